// stqn_dot: LANES-wide ternary dot product. Each lane's product is formed as a 2-bit code by two
// 4-input functions, and the codes are summed by stqn_sum_tree (docs/architecture.md sections 2
// and 5). Combinational.
`default_nettype none

module stqn_dot #(
  parameter integer LANES = 16  // a power of two, >= 1
) (
  input  wire [2*LANES-1:0]              w_i,   // lane i: {neg, nz} at bits [2i+1:2i]
  input  wire [2*LANES-1:0]              a_i,   // lane i: {neg, nz}
  output wire signed [$clog2(LANES)+1:0] sum_o  // sum of the LANES products, in [-LANES, LANES]
);
  wire [2*LANES-1:0] prod;

  genvar i;
  generate
    for (i = 0; i < LANES; i = i + 1) begin : g_lane
      // {neg, nz} is the 2-bit two's complement of w * a: 01 = +1, 11 = -1, 00 = 0.
      wire nz  = w_i[2*i] & a_i[2*i];
      wire neg = nz & (w_i[2*i+1] ^ a_i[2*i+1]);
      assign prod[2*i +: 2] = {neg, nz};
    end
  endgenerate

  stqn_sum_tree #(.N(LANES), .W(2)) u_tree (
    .in_i (prod),
    .sum_o(sum_o)
  );
endmodule

`default_nettype wire
