// stqn_array: ROWS x COLS processing elements, each a LANES-wide ternary dot product (stqn_dot)
// feeding one ACC_W-bit accumulator through the PE's multiplier. Weights are broadcast along a
// row (one output channel), activations along a column (one output pixel). See
// docs/architecture.md sections 2, 4 and 5.
//
// A group is a run of beats ending with last_i. Each beat adds one product to every accumulator:
//   ternary beat (in_int8_i = 0): dot(row r's digits, column c's digits) * 2^shift_i, where
//     shift_i is the significance of the beat's digit planes, the same for every PE; it must be
//     <= 14 (2^shift is a 16-bit signed multiplier; planes are at most 8, which the controller
//     checks; not an assertion, because benches start layers on random descriptors);
//   int8 beat (in_int8_i = 1): weight_r * pixel_c, where weight_r is the int8 (two's complement)
//     in the low byte of row r's weight word (bits [r*2*LANES +: 8]) and pixel_c the uint8 at the
//     start of half in_half_i of column c's activation word (bits [c*2*LANES + LANES*in_half_i
//     +: 8]; with LANES = 4 the word is one byte and in_half_i must be 0); the other bits are
//     ignored. Both kinds use the same multiplier (a DSP block on FPGAs).
// A group's last beat in stage 1 is the output beat: its sums (acc + product of every PE, the
// group's final accumulators) are out_acc_o while it waits there to be taken; when it moves, the
// accumulators restart from zero, so the next group can start on the very next beat. The array
// keeps no copy of a finished group: the consumer does (stqn_writeback reads it over several
// cycles from a shift register of its own, and takes the next group in the cycle after its last
// read).
`default_nettype none

module stqn_array #(
  parameter integer LANES   = 16,  // a power of two, 4 .. 64
  parameter integer ROWS    = 2,
  parameter integer COLS    = 4,
  parameter integer ACC_W   = 24,
  parameter integer SHIFT_W = 4    // digit-plane significance 0 .. min(2^SHIFT_W - 1, 14)
) (
  input  wire                        clk_i,
  input  wire                        rst_ni,
  // Input stream: one beat = one chunk of LANES digits (or one int8 operand) for every row and
  // column.
  input  wire                        in_valid_i,
  output wire                        in_ready_o,
  input  wire [SHIFT_W-1:0]          in_shift_i,
  input  wire                        in_int8_i,  // int8 beat: weight_r * pixel_c (see above)
  input  wire                        in_half_i,  // int8 beat: the pixel's half of the word
  input  wire                        in_last_i,
  input  wire [ROWS*LANES*2-1:0]     in_w_i,     // row r, lane i: bits [(r*LANES+i)*2 +: 2]
  input  wire [COLS*LANES*2-1:0]     in_a_i,     // column c, lane i: bits [(c*LANES+i)*2 +: 2]
  // Output stream: one beat = every accumulator of a finished group.
  output wire                        out_valid_o,
  input  wire                        out_ready_i,
  output wire [ROWS*COLS*ACC_W-1:0]  out_acc_o   // PE (r, c) at [(r*COLS+c)*ACC_W +: ACC_W]
);
  localparam integer SUM_W   = $clog2(LANES) + 2;
  localparam integer PES     = ROWS * COLS;
  localparam integer WORD_W  = 2 * LANES;
  // The multiplier: a per-PE signed multiplicand (the dot product, or the row's int8 weight) times
  // a per-column multiplier that is never negative (2^shift, or the column's uint8 pixel), so
  // that it fits one 16 x 16 signed DSP multiply (SB_MAC16, MULT18X18D, DSP48E1).
  localparam integer OPA_W   = 8;
  localparam integer OPB_W   = 16;

  generate
    if (ACC_W < OPA_W + OPB_W - 1 || ACC_W > 32) begin : g_bad_acc
      $error("stqn_array: ACC_W must be in [23, 32]");
    end
    if (ROWS < 1 || COLS < 1 || SHIFT_W < 1 || SHIFT_W > 4) begin : g_bad_shape
      $error("stqn_array: ROWS, COLS must be >= 1 and SHIFT_W in [1, 4]");
    end
    if (LANES < 4 || LANES > 64) begin : g_bad_lanes
      $error("stqn_array: LANES must be in [4, 64] (a word holds a byte, a dot product 8 bits)");
    end
  endgenerate

  // The pipeline advances unless a group's last beat (the output beat) is not taken.
  reg  s1_valid_q, s1_last_q;
  wire advance = !(s1_valid_q && s1_last_q && !out_ready_i);
  assign in_ready_o = advance;

  // ---- Stage 1: dot products (or int8 weights) and the multipliers' low bytes ----------------
  reg                   s1_int8_q;
  reg  [SHIFT_W-1:0]    s1_shift_q;
  wire                  s1_valid_d = advance ? in_valid_i : s1_valid_q;
  wire                  s1_last_d  = advance ? in_last_i  : s1_last_q;
  wire                  s1_int8_d  = advance ? in_int8_i  : s1_int8_q;
  wire [SHIFT_W-1:0]    s1_shift_d = advance ? in_shift_i : s1_shift_q;
  wire [PES*OPA_W-1:0]  opa_d;
  reg  [PES*OPA_W-1:0]  opa_q;
  wire [COLS*8-1:0]     opb_lo_d;  // column c's multiplier, bits 7:0 (the pixel or 2^shift)
  reg  [COLS*8-1:0]     opb_lo_q;

  // ---- Stage 2: accumulators -------------------------------------------------------------------
  // Every PE of a column multiplies by the same value; on FPGAs with DSP blocks the multiply maps
  // there.
  wire                      acc_en  = advance && s1_valid_q;
  wire                      acc_clr = !rst_ni || (acc_en && s1_last_q);
  wire [7:0]                scale_lo_in = 8'd1 << in_shift_i;  // 2^shift, bits 7:0 (stage 1)
  wire [OPB_W-1:0]          scale       = {{(OPB_W-1){1'b0}}, 1'b1} << s1_shift_q;
  wire [OPB_W-9:0]          opb_hi      = s1_int8_q ? {(OPB_W-8){1'b0}} : scale[OPB_W-1:8];
  wire                      unused_scale = &{1'b0, scale[7:0]};  // bits 7:0 are registered
  wire [PES*ACC_W-1:0]      sum_all;  // acc_q + opa * opb of every PE
  wire [PES*ACC_W-1:0]      acc_d = acc_clr ? {(PES*ACC_W){1'b0}} : (acc_en ? sum_all : acc_q);
  reg  [PES*ACC_W-1:0]      acc_q;

  genvar r, c, k;
  generate
    // Column c's multiplier, low byte: the pixel (int8) or 2^shift's low bits (ternary). Written
    // as "set, else pixel gated by int8" so that each bit is one LUT4 (a 2:1 half select and the
    // gate) into a flip-flop whose synchronous set (free on iCE40 SB_DFFESS) gives 2^shift.
    for (c = 0; c < COLS; c = c + 1) begin : g_pixel
      wire [7:0] pixel;
      if (LANES < 8) begin : g_one
        assign pixel = in_a_i[c*WORD_W +: 8];
        wire unused_half = &{1'b0, in_half_i};  // a one-byte word: the half is always 0
      end else begin : g_half
        assign pixel = in_half_i ? in_a_i[c*WORD_W + LANES +: 8] : in_a_i[c*WORD_W +: 8];
      end
      for (k = 0; k < 8; k = k + 1) begin : g_bit
        wire set   = !in_int8_i && scale_lo_in[k];
        wire bit_d = set ? 1'b1 : (in_int8_i && pixel[k]);
        assign opb_lo_d[c*8 + k] = advance ? bit_d : opb_lo_q[c*8 + k];
      end
    end

    for (r = 0; r < ROWS; r = r + 1) begin : g_row
      wire [7:0] weight = in_w_i[r*WORD_W +: 8];
      for (c = 0; c < COLS; c = c + 1) begin : g_col
        localparam integer P = r * COLS + c;
        wire signed [SUM_W-1:0] dot_sum;
        stqn_dot #(.LANES(LANES)) u_dot (
          .w_i  (in_w_i[r*WORD_W +: WORD_W]),
          .a_i  (in_a_i[c*WORD_W +: WORD_W]),
          .sum_o(dot_sum)
        );
        wire [OPA_W-1:0] opa_in = in_int8_i ? weight : {{(OPA_W-SUM_W){dot_sum[SUM_W-1]}}, dot_sum};
        assign opa_d[P*OPA_W +: OPA_W] = advance ? opa_in : opa_q[P*OPA_W +: OPA_W];

        wire signed [OPA_W-1:0] opa = opa_q[P*OPA_W +: OPA_W];
        wire signed [OPB_W-1:0] opb = {opb_hi, opb_lo_q[c*8 +: 8]};  // never negative
        wire signed [ACC_W-1:0] acc  = acc_q[P*ACC_W +: ACC_W];
        wire signed [ACC_W-1:0] prod = opa * opb;  // |prod| < 2^22; the sum: B in section 5
        assign sum_all[P*ACC_W +: ACC_W] = acc + prod;
      end
    end
  endgenerate

  always @(posedge clk_i) begin
    if (!rst_ni) s1_valid_q <= 1'b0;
    else         s1_valid_q <= s1_valid_d;
    s1_last_q  <= s1_last_d;
    s1_int8_q  <= s1_int8_d;
    s1_shift_q <= s1_shift_d;
    opa_q      <= opa_d;
    opb_lo_q   <= opb_lo_d;
    acc_q      <= acc_d;
  end

  assign out_valid_o = s1_valid_q && s1_last_q;
  assign out_acc_o   = sum_all;

`ifdef STQN_ASSERT
  stqn_hs_check #(.WIDTH(3 + SHIFT_W + (ROWS + COLS) * LANES * 2),
                  .NAME("stqn_array.in")) u_in_check (
    .clk_i  (clk_i),
    .rst_ni (rst_ni),
    .valid_i(in_valid_i),
    .ready_i(in_ready_o),
    .data_i ({in_shift_i, in_int8_i, in_half_i, in_last_i, in_w_i, in_a_i})
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
