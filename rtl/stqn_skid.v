// stqn_skid: two-entry skid buffer. Cuts the combinational ready path (in_ready_o is a register)
// and keeps full throughput: one beat per cycle in and out.
`default_nettype none

module stqn_skid #(
  parameter integer WIDTH = 32
) (
  input  wire             clk_i,
  input  wire             rst_ni,
  input  wire             in_valid_i,
  output wire             in_ready_o,
  input  wire [WIDTH-1:0] in_data_i,
  output wire             out_valid_o,
  input  wire             out_ready_i,
  output wire [WIDTH-1:0] out_data_o
);
  reg             out_valid_q, skid_valid_q;
  reg [WIDTH-1:0] out_data_q, skid_data_q;

  // in_ready_o is true while the skid slot is empty; a beat that arrives while the output is
  // stalled parks there.
  assign in_ready_o = !skid_valid_q;
  wire in_fire  = in_valid_i && in_ready_o;
  wire out_free = !out_valid_q || out_ready_i;

  wire             out_valid_d  = out_free ? (skid_valid_q || in_fire) : 1'b1;
  wire [WIDTH-1:0] out_data_d   = out_free ? (skid_valid_q ? skid_data_q : in_data_i) : out_data_q;
  wire             skid_valid_d = out_free ? 1'b0 : (skid_valid_q || in_fire);
  wire [WIDTH-1:0] skid_data_d  = (!out_free && in_fire) ? in_data_i : skid_data_q;

  always @(posedge clk_i) begin
    if (!rst_ni) begin
      out_valid_q  <= 1'b0;
      skid_valid_q <= 1'b0;
    end else begin
      out_valid_q  <= out_valid_d;
      skid_valid_q <= skid_valid_d;
    end
    out_data_q  <= out_data_d;
    skid_data_q <= skid_data_d;
  end

  assign out_valid_o = out_valid_q;
  assign out_data_o  = out_data_q;

`ifdef STQN_ASSERT
  stqn_hs_check #(.WIDTH(WIDTH), .NAME("stqn_skid.in")) u_in_check (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(in_valid_i), .ready_i(in_ready_o), .data_i(in_data_i)
  );
  stqn_hs_check #(.WIDTH(WIDTH), .NAME("stqn_skid.out")) u_out_check (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(out_valid_o), .ready_i(out_ready_i),
    .data_i(out_data_o)
  );
`endif
endmodule

`default_nettype wire
