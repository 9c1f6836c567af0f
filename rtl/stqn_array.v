// stqn_array: ROWS x COLS processing elements, each a LANES-wide ternary dot product (stqn_dot)
// feeding one ACC_W-bit accumulator. Weights are broadcast along a row (one output channel),
// activations along a column (one output pixel). See docs/architecture.md sections 2, 4 and 5.
//
// A group is a run of beats ending with last_i. Each beat adds psum * 2^shift_i to every
// accumulator (shift_i is the significance of the digit planes of that beat, the same for every
// PE). After the last beat of a group, the final accumulators move to the output register and
// the accumulators restart from zero, so the next group can start on the very next beat.
`default_nettype none

module stqn_array #(
  parameter integer LANES   = 16,
  parameter integer ROWS    = 2,
  parameter integer COLS    = 4,
  parameter integer ACC_W   = 24,
  parameter integer SHIFT_W = 4    // digit-plane significance 0 .. 2^SHIFT_W - 1
) (
  input  wire                        clk_i,
  input  wire                        rst_ni,
  // Input stream: one beat = one chunk of LANES digits for every row and column.
  input  wire                        in_valid_i,
  output wire                        in_ready_o,
  input  wire [SHIFT_W-1:0]          in_shift_i,
  input  wire                        in_last_i,
  input  wire [ROWS*LANES*2-1:0]     in_w_i,     // row r, lane i: bits [(r*LANES+i)*2 +: 2]
  input  wire [COLS*LANES*2-1:0]     in_a_i,     // column c, lane i: bits [(c*LANES+i)*2 +: 2]
  // Output stream: one beat = every accumulator of a finished group.
  output wire                        out_valid_o,
  input  wire                        out_ready_i,
  output wire [ROWS*COLS*ACC_W-1:0]  out_acc_o   // PE (r, c) at [(r*COLS+c)*ACC_W +: ACC_W]
);
  localparam integer SUM_W = $clog2(LANES) + 2;
  localparam integer PES   = ROWS * COLS;
  localparam integer SCALE_W = (1 << SHIFT_W) + 1;  // signed, holds 2^(2^SHIFT_W - 1)

  generate
    if (ACC_W < SUM_W + 1 || ACC_W > 32) begin : g_bad_acc
      $error("stqn_array: ACC_W must be in [clog2(LANES)+3, 32]");
    end
    if (ROWS < 1 || COLS < 1 || SHIFT_W < 1 || SHIFT_W > 4) begin : g_bad_shape
      $error("stqn_array: ROWS, COLS must be >= 1 and SHIFT_W in [1, 4]");
    end
  endgenerate

  // The whole pipeline advances unless a finished group waits in the output register.
  reg  out_valid_q;
  wire advance = !out_valid_q || out_ready_i;
  assign in_ready_o = advance;

  // ---- Stage 1: dot products -------------------------------------------------------------------
  reg                   s1_valid_q, s1_last_q;
  reg  [SHIFT_W-1:0]    s1_shift_q;
  wire                  s1_valid_d = advance ? in_valid_i : s1_valid_q;
  wire                  s1_last_d  = advance ? in_last_i  : s1_last_q;
  wire [SHIFT_W-1:0]    s1_shift_d = advance ? in_shift_i : s1_shift_q;
  wire [PES*SUM_W-1:0]  psum_d;
  reg  [PES*SUM_W-1:0]  psum_q;

  // ---- Stage 2: accumulators and output register ----------------------------------------------
  // Every PE scales by the same power of two; on FPGAs with DSP blocks the multiply maps there.
  wire                      acc_en  = advance && s1_valid_q;
  wire                      acc_clr = !rst_ni || (acc_en && s1_last_q);
  wire signed [SCALE_W-1:0] scale   = {1'b0, {(SCALE_W-1){1'b0}} | ({{(SCALE_W-2){1'b0}}, 1'b1} << s1_shift_q)};
  wire [PES*ACC_W-1:0]      sum_all;  // acc_q + psum * scale of every PE
  wire [PES*ACC_W-1:0]      acc_d = acc_clr ? {(PES*ACC_W){1'b0}} : (acc_en ? sum_all : acc_q);
  reg  [PES*ACC_W-1:0]      acc_q;
  wire                      out_valid_d = (acc_en && s1_last_q) ? 1'b1 :
                                          (out_ready_i ? 1'b0 : out_valid_q);
  wire [PES*ACC_W-1:0]      out_acc_d = (acc_en && s1_last_q) ? sum_all : out_acc_q;
  reg  [PES*ACC_W-1:0]      out_acc_q;

  genvar r, c;
  generate
    for (r = 0; r < ROWS; r = r + 1) begin : g_row
      for (c = 0; c < COLS; c = c + 1) begin : g_col
        localparam integer P = r * COLS + c;
        wire signed [SUM_W-1:0] dot_sum;
        stqn_dot #(.LANES(LANES)) u_dot (
          .w_i  (in_w_i[r*LANES*2 +: LANES*2]),
          .a_i  (in_a_i[c*LANES*2 +: LANES*2]),
          .sum_o(dot_sum)
        );
        assign psum_d[P*SUM_W +: SUM_W] = advance ? dot_sum : psum_q[P*SUM_W +: SUM_W];

        wire signed [SUM_W-1:0] psum = psum_q[P*SUM_W +: SUM_W];
        wire signed [ACC_W-1:0] acc  = acc_q[P*ACC_W +: ACC_W];
        wire signed [ACC_W-1:0] prod = psum * scale;  // truncated to ACC_W (see B in section 5)
        assign sum_all[P*ACC_W +: ACC_W] = acc + prod;
      end
    end
  endgenerate

  always @(posedge clk_i) begin
    if (!rst_ni) begin
      s1_valid_q  <= 1'b0;
      out_valid_q <= 1'b0;
    end else begin
      s1_valid_q  <= s1_valid_d;
      out_valid_q <= out_valid_d;
    end
    s1_last_q  <= s1_last_d;
    s1_shift_q <= s1_shift_d;
    psum_q     <= psum_d;
    acc_q      <= acc_d;
    out_acc_q  <= out_acc_d;
  end

  assign out_valid_o = out_valid_q;
  assign out_acc_o   = out_acc_q;

`ifdef STQN_ASSERT
  stqn_hs_check #(.WIDTH(1 + SHIFT_W + (ROWS + COLS) * LANES * 2), .NAME("stqn_array.in"))
  u_in_check (
    .clk_i  (clk_i),
    .rst_ni (rst_ni),
    .valid_i(in_valid_i),
    .ready_i(in_ready_o),
    .data_i ({in_shift_i, in_last_i, in_w_i, in_a_i})
  );
  stqn_hs_check #(.WIDTH(PES * ACC_W), .NAME("stqn_array.out")) u_out_check (
    .clk_i  (clk_i),
    .rst_ni (rst_ni),
    .valid_i(out_valid_o),
    .ready_i(out_ready_i),
    .data_i (out_acc_o)
  );
`endif
endmodule

`default_nettype wire
