// stqn_threshold: multi-threshold unit. Turns an accumulator S into an activation code
// code = act_min + #{l : S >= theta_l} (method.md section 5; ties count), taking up to NTH
// thresholds per beat; a channel with more thresholds spans several beats (first_i .. last_i)
// with the same S. Thresholds are ACC_W-bit, saturated by the host (docs/architecture.md s. 4).
// UNITS accumulators are compared per beat against the same thresholds (one channel's pixels in
// the write-back), so the threshold memory still delivers one word per beat.
`default_nettype none

module stqn_threshold #(
  parameter integer ACC_W  = 24,
  parameter integer NTH    = 2,   // comparators
  parameter integer CODE_W = 9,   // signed code width: holds uint8 and int8 codes
  parameter integer USER_W = 1,   // side-band carried from the last beat to the output
  parameter integer UNITS  = 1    // accumulators per beat, sharing the thresholds
) (
  input  wire                        clk_i,
  input  wire                        rst_ni,
  input  wire                        in_valid_i,
  output wire                        in_ready_o,
  input  wire [UNITS*ACC_W-1:0]      in_acc_i,    // S of unit u at [u*ACC_W +: ACC_W]
  input  wire [NTH*ACC_W-1:0]        in_thr_i,    // theta_l at [l*ACC_W +: ACC_W]
  input  wire [$clog2(NTH+1)-1:0]    in_count_i,  // thresholds valid in this beat: 0 .. NTH
  input  wire [CODE_W-1:0]           in_base_i,   // act_min; used on the first beat
  input  wire                        in_first_i,
  input  wire                        in_last_i,
  input  wire [USER_W-1:0]           in_user_i,
  output wire                        out_valid_o,
  input  wire                        out_ready_i,
  output wire [UNITS*CODE_W-1:0]     out_code_o,  // code of unit u at [u*CODE_W +: CODE_W]
  output wire [USER_W-1:0]           out_user_o
);
  localparam integer CNT_W = $clog2(NTH + 1);

  generate
    if (NTH < 1 || ACC_W < 2 || ACC_W > 32 || CODE_W < 2 || UNITS < 1) begin : g_bad_params
      $error("stqn_threshold: need NTH >= 1, ACC_W in [2, 32], CODE_W >= 2, UNITS >= 1");
    end
  endgenerate

  reg               out_valid_q;
  reg  [USER_W-1:0] out_user_q;

  assign in_ready_o = !out_valid_q || out_ready_i;
  wire in_fire = in_valid_i && in_ready_o;
  wire take    = in_fire && in_last_i;  // a channel's code is complete

  genvar u;
  generate
    for (u = 0; u < UNITS; u = u + 1) begin : g_unit
      reg  [CODE_W-1:0] out_code_q;
      reg  [CODE_W-1:0] run_q;      // code so far within a multi-beat channel
      wire [ACC_W-1:0]  acc = in_acc_i[u*ACC_W +: ACC_W];
      // Number of thresholds of this beat that S reaches. S >= theta is theta + ~S < 0
      // (~S = -S - 1), the sign of an ACC_W + 1-bit sum: a carry chain with ~S inverted once per
      // unit instead of every theta once per comparator (on iCE40 the chain's operands cannot be
      // inverted for free).
      wire signed [ACC_W:0] nacc = ~{acc[ACC_W-1], acc};
      reg  [CNT_W-1:0]  hits;
      reg  signed [ACC_W:0] diff;
      integer l;
      always @(*) begin
        hits = {CNT_W{1'b0}};
        for (l = 0; l < NTH; l = l + 1) begin
          diff = $signed({in_thr_i[l*ACC_W+ACC_W-1], in_thr_i[l*ACC_W +: ACC_W]}) + nacc;
          if (l < in_count_i && diff[ACC_W]) hits = hits + 1'b1;
        end
      end
      wire [CODE_W-1:0] code = (in_first_i ? in_base_i : run_q) + {{(CODE_W-CNT_W){1'b0}}, hits};
      wire [CODE_W-1:0] run_d = in_fire ? code : run_q;
      wire [CODE_W-1:0] out_code_d = take ? code : out_code_q;
      always @(posedge clk_i) begin
        run_q      <= run_d;
        out_code_q <= out_code_d;
      end
      assign out_code_o[u*CODE_W +: CODE_W] = out_code_q;
    end
  endgenerate

  wire              out_valid_d = take ? 1'b1 : (out_ready_i ? 1'b0 : out_valid_q);
  wire [USER_W-1:0] out_user_d = take ? in_user_i : out_user_q;

  always @(posedge clk_i) begin
    if (!rst_ni) out_valid_q <= 1'b0;
    else         out_valid_q <= out_valid_d;
    out_user_q <= out_user_d;
  end

  assign out_valid_o = out_valid_q;
  assign out_user_o  = out_user_q;

`ifdef STQN_ASSERT
  stqn_hs_check #(.WIDTH(ACC_W * (NTH + UNITS) + CNT_W + CODE_W + 2 + USER_W),
                  .NAME("stqn_threshold.in")) u_in_check (
    .clk_i  (clk_i),
    .rst_ni (rst_ni),
    .valid_i(in_valid_i),
    .ready_i(in_ready_o),
    .data_i ({in_acc_i, in_thr_i, in_count_i, in_base_i, in_first_i, in_last_i, in_user_i})
  );
  generate
    if ((1 << CNT_W) != NTH + 1) begin : g_count_check  // else every count is legal
      always @(posedge clk_i) begin
        if (rst_ni && in_valid_i && in_count_i > NTH[CNT_W-1:0])
          $error("stqn_threshold: in_count_i %0d > NTH", in_count_i);
      end
    end
  endgenerate
`endif
endmodule

`default_nettype wire
