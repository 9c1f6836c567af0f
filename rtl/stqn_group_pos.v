// stqn_group_pos: the position of a conv group in its layer, as an odometer over the group
// loops of docs/architecture.md section 7 (outermost first): output row y, pixel group xg
// (x = xg * COLS + c), output-channel group og. stqn_agen steps it when a group's last beat
// issues; stqn_conv keeps a second one at the array's output, which names each finished group
// without a FIFO of positions (groups leave the array in the order they entered).
// Descriptor inputs must hold still between start_i and the layer's last step. The position has
// no reset: every layer begins with start_i, and no user reads it before then.
`default_nettype none

module stqn_group_pos #(
  parameter integer COLS  = 4,   // a power of two >= 2
  parameter integer DIM_W = 11,
  parameter integer CNT_W = 10
) (
  input  wire             clk_i,
  input  wire             start_i,        // rewind to (0, 0, 0)
  input  wire             step_i,         // move to the next group (ignored with start_i)
  input  wire [DIM_W-1:0] cfg_out_h_i,
  input  wire [DIM_W-1:0] cfg_out_w_i,
  input  wire [CNT_W-1:0] cfg_ogroups_i,  // ceil(out_channels / ROWS)
  output wire [DIM_W-1:0] y_o,
  output wire [DIM_W-1:0] xg_o,
  output wire [CNT_W-1:0] og_o,
  output wire             og_last_o,      // og is the row's last output-channel group
  output wire             xg_last_o,      // xg is the row's last pixel group
  output wire             y_last_o        // y is the last output row
);
  localparam integer LOGC = $clog2(COLS);

  generate
    if (COLS < 2 || (1 << LOGC) != COLS) begin : g_bad_cols
      $error("stqn_group_pos: COLS must be a power of two >= 2");
    end
  endgenerate

  reg  [DIM_W-1:0] y_q, xg_q, y_d, xg_d;
  reg  [CNT_W-1:0] og_q, og_d;
  // A digit ends when its increment reaches the count (x + 1 == n, i.e. x == n - 1 modulo 2^W):
  // the incrementer serves the end test.
  wire [DIM_W-1:0] y_inc = y_q + 1'b1, xg_inc = xg_q + 1'b1;
  wire [CNT_W-1:0] og_inc = og_q + 1'b1;
  wire og_last = og_inc == cfg_ogroups_i;
  wire xg_last = xg_q == (cfg_out_w_i - 1'b1) >> LOGC;
  wire y_last  = y_inc == cfg_out_h_i;

  always @(*) begin
    {y_d, xg_d, og_d} = {y_q, xg_q, og_q};
    if (start_i) begin
      {y_d, xg_d, og_d} = {(2 * DIM_W + CNT_W){1'b0}};
    end else if (step_i) begin
      og_d = og_last ? {CNT_W{1'b0}} : og_inc;
      if (og_last) xg_d = xg_last ? {DIM_W{1'b0}} : xg_inc;
      if (og_last && xg_last) y_d = y_last ? {DIM_W{1'b0}} : y_inc;
    end
  end

  always @(posedge clk_i) {y_q, xg_q, og_q} <= {y_d, xg_d, og_d};

  assign y_o       = y_q;
  assign xg_o      = xg_q;
  assign og_o      = og_q;
  assign og_last_o = og_last;
  assign xg_last_o = xg_last;
  assign y_last_o  = y_last;
endmodule

`default_nettype wire
