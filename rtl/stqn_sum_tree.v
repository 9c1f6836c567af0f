// stqn_sum_tree: balanced adder tree over N signed W-bit values. Level l of the tree is W+l bits
// wide, so only the root is wide (docs/architecture.md section 5). Instantiates itself on each
// half; combinational.
`default_nettype none

module stqn_sum_tree #(
  parameter integer N = 16,  // a power of two, >= 1
  parameter integer W = 2
) (
  input  wire [N*W-1:0]                  in_i,   // value k at [k*W +: W], two's complement
  output wire signed [W+$clog2(N)-1:0]   sum_o
);
  localparam integer LEVELS = $clog2(N);
  localparam integer HALF = N / 2;

  generate
    if (N < 1 || (1 << LEVELS) != N || W < 1) begin : g_bad_params
      $error("stqn_sum_tree: N must be a power of two and W >= 1");
    end

    if (N == 1) begin : g_leaf
      assign sum_o = in_i;
    end else begin : g_node
      wire signed [W+LEVELS-2:0] lo_sum;
      wire signed [W+LEVELS-2:0] hi_sum;
      stqn_sum_tree #(.N(HALF), .W(W)) u_lo (
        .in_i (in_i[HALF*W-1:0]),
        .sum_o(lo_sum)
      );
      stqn_sum_tree #(.N(HALF), .W(W)) u_hi (
        .in_i (in_i[N*W-1:HALF*W]),
        .sum_o(hi_sum)
      );
      assign sum_o = {lo_sum[W+LEVELS-2], lo_sum} + {hi_sum[W+LEVELS-2], hi_sum};
    end
  endgenerate
endmodule

`default_nettype wire
