// stqn_mul_serial: a saturating unsigned multiplier, one bit of b per cycle (MSB first:
// p = 2p + (b_bit ? a : 0)), for the controller's descriptor checks: region sizes and the
// accumulator bound are products of descriptor fields, and a multiplier in LUTs or a DSP
// would cost far more than the few cycles per descriptor. A product above 2^A_W - 1 reads as
// 2^A_W - 1 (all ones), so a comparison against a memory size stays correct.
`default_nettype none

module stqn_mul_serial #(
  parameter integer A_W = 32,
  parameter integer B_W = 16
) (
  input  wire           clk_i,
  input  wire           rst_ni,
  input  wire           start_i,   // takes a_i, b_i (ignored while busy)
  input  wire [A_W-1:0] a_i,
  input  wire [B_W-1:0] b_i,
  output wire           done_o,    // one cycle: p_o is valid (and stays until the next start)
  output wire [A_W-1:0] p_o
);
  localparam integer NW = $clog2(B_W + 1);
  localparam [NW-1:0] N_B = B_W[NW-1:0];
  reg           busy_q, busy_d, done_q, done_d;
  reg [NW-1:0]  n_q, n_d;
  reg [A_W-1:0] a_q, a_d, p_q, p_d;
  reg [B_W-1:0] b_q, b_d;
  reg           sat_q, sat_d;

  wire [A_W:0] doubled = {p_q, 1'b0};
  wire [A_W:0] sum     = doubled + (b_q[B_W-1] ? {1'b0, a_q} : {(A_W+1){1'b0}});

  always @(*) begin
    {busy_d, done_d, n_d, a_d, p_d, b_d, sat_d} = {busy_q, 1'b0, n_q, a_q, p_q, b_q, sat_q};
    if (busy_q) begin
      sat_d = sat_q || p_q[A_W-1] || sum[A_W];
      p_d = sum[A_W-1:0];
      b_d = b_q << 1;
      n_d = n_q - 1'b1;
      if (n_q == {{(NW-1){1'b0}}, 1'b1}) begin
        busy_d = 1'b0;
        done_d = 1'b1;
      end
    end else if (start_i) begin
      {busy_d, n_d, a_d, b_d, sat_d} = {1'b1, N_B, a_i, b_i, 1'b0};
      p_d = {A_W{1'b0}};
    end
  end

  always @(posedge clk_i) begin
    if (!rst_ni) {busy_q, done_q} <= 2'b00;
    else         {busy_q, done_q} <= {busy_d, done_d};
    {n_q, a_q, p_q, b_q, sat_q} <= {n_d, a_d, p_d, b_d, sat_d};
  end

  assign done_o = done_q;
  assign p_o = sat_q ? {A_W{1'b1}} : p_q;
endmodule

`default_nettype wire
