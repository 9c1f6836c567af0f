// stqn_dot: LANES-wide ternary dot product (docs/architecture.md sections 2 and 5).
// Combinational. Lanes are summed in pairs first: a pair's sum p0 + p1 in [-2, 2] is formed
// from the raw digits by six 4-input functions (one LUT4 each, no adder):
//   odd  = nz0 ^ nz1              (nz = w.nz & a.nz: the product is nonzero)
//   both = nz0 & nz1
//   neg0 = nz0 & (w0.neg ^ a0.neg), neg1 likewise (the product is -1)
//   u    = both - neg0 - neg1 in {-1, 0, 1}, as a 2-bit two's complement {u1, u0}
// so that p0 + p1 = odd + 2u, i.e. {u1, u0, odd} is its 3-bit two's complement. stqn_sum_tree
// adds the LANES/2 pair sums. On iCE40 (STQN_ICE40) the six functions are SB_LUT4 instances
// (Yosys maps the same logic to 7 LUT4 per pair); otherwise the same functions in Verilog, as
// word-wide operations on every pair at once (Verilator then simulates them in a few word
// operations instead of one statement per bit: this module was a third of stqn-sim's time), which
// tb/stqn_dot checks against the instances bit-exactly.
`default_nettype none

module stqn_dot #(
  parameter integer LANES = 16  // a power of two, >= 1
) (
  input  wire [2*LANES-1:0]              w_i,   // lane i: {neg, nz} at bits [2i+1:2i]
  input  wire [2*LANES-1:0]              a_i,   // lane i: {neg, nz}
  output wire signed [$clog2(LANES)+1:0] sum_o  // sum of the LANES products, in [-LANES, LANES]
);
  genvar k;
  generate
    if (LANES == 1) begin : g_one
      // {neg, nz} is the 2-bit two's complement of w * a: 01 = +1, 11 = -1, 00 = 0.
      wire nz = w_i[0] & a_i[0];
      assign sum_o = {nz & (w_i[1] ^ a_i[1]), nz};
    end else begin : g_pairs
      localparam integer PAIRS = LANES / 2;
`ifdef STQN_ICE40
      wire [3*PAIRS-1:0] pair;  // pair k = lanes 2k, 2k+1: bits [3k +: 3]
      for (k = 0; k < PAIRS; k = k + 1) begin : g_pair
        wire wn0 = w_i[4*k],     ws0 = w_i[4*k+1], wn1 = w_i[4*k+2], ws1 = w_i[4*k+3];
        wire an0 = a_i[4*k],     as0 = a_i[4*k+1], an1 = a_i[4*k+2], as1 = a_i[4*k+3];
        wire odd, both, neg0, neg1, u0, u1;
        // LUT_INIT bit {I3, I2, I1, I0} is the function's value at those inputs.
        SB_LUT4 #(.LUT_INIT(16'h7888)) u_odd  (.I0(wn0), .I1(an0), .I2(wn1), .I3(an1), .O(odd));
        SB_LUT4 #(.LUT_INIT(16'h8000)) u_both (.I0(wn0), .I1(an0), .I2(wn1), .I3(an1), .O(both));
        SB_LUT4 #(.LUT_INIT(16'h0880)) u_neg0 (.I0(wn0), .I1(an0), .I2(ws0), .I3(as0), .O(neg0));
        SB_LUT4 #(.LUT_INIT(16'h0880)) u_neg1 (.I0(wn1), .I1(an1), .I2(ws1), .I3(as1), .O(neg1));
        SB_LUT4 #(.LUT_INIT(16'h9696)) u_u0   (.I0(both), .I1(neg0), .I2(neg1), .I3(1'b0), .O(u0));
        SB_LUT4 #(.LUT_INIT(16'hd4d4)) u_u1   (.I0(both), .I1(neg0), .I2(neg1), .I3(1'b0), .O(u1));
        assign pair[3*k +: 3] = {u1, u0, odd};
      end
`else
      // The same six functions on every pair at once (word-wide operations; pair k at bit 4k).
      localparam [2*LANES-1:0] NZ_BITS = {LANES{2'b01}};   // each lane's nz bit
      localparam [2*LANES-1:0] PAIR_BITS = {PAIRS{4'b0001}};  // bit 4k: pair k
      wire [2*LANES-1:0] nz   = w_i & a_i & NZ_BITS;          // bit 2i: product i is nonzero
      wire [2*LANES-1:0] neg  = nz & ((w_i ^ a_i) >> 1);      // bit 2i: product i is -1
      wire [2*LANES-1:0] odd  = (nz ^ (nz >> 2)) & PAIR_BITS;
      wire [2*LANES-1:0] both = nz & (nz >> 2) & PAIR_BITS;
      wire [2*LANES-1:0] neg0 = neg & PAIR_BITS;
      wire [2*LANES-1:0] neg1 = (neg >> 2) & PAIR_BITS;
      wire [2*LANES-1:0] u0   = both ^ neg0 ^ neg1;
      wire [2*LANES-1:0] u1   = (both & neg0 & neg1) | (~both & (neg0 | neg1));
      wire [3*PAIRS-1:0] pair;
      for (k = 0; k < PAIRS; k = k + 1) begin : g_pair
        assign pair[3*k +: 3] = {u1[4*k], u0[4*k], odd[4*k]};
      end
      wire unused_bits = &{1'b0, (odd | u0 | u1) & ~PAIR_BITS};  // zero outside bit 4k
`endif
      stqn_sum_tree #(.N(PAIRS), .W(3)) u_tree (
        .in_i (pair),
        .sum_o(sum_o)
      );
    end
  endgenerate
endmodule

`default_nettype wire
