// stqn_ctrl: runs a layer program (docs/registers.md "Layer program"). For each descriptor it
// fetches the 8 words from the program memory, checks the descriptor completely (opcode,
// reserved bits, every field against the configuration, every region against its memory,
// input/output overlap, the accumulator bound, the fused pooling's line-buffer words and sum
// bound) and only then starts stqn_core's layer with the descriptor's fields and the products
// derived from them. Pooling runs fused into the conv's write-back (the descriptor's pool field).
// The int8 stem mode (w0[20]) reads a one-channel image stored as packed rows (PACK_ROWS rows of
// uint8 pixels per word, stqn_agen) with int8 weights: its input region and row offset count
// word rows, and its accumulator bound uses 128 x 255 per tap. A failed check stops the
// program with ERROR_CODE / ERROR_PC before a single memory access of that layer, so a malformed
// program can neither hang nor write outside its regions. After a logits layer it computes the
// argmax of the logits (ties to the lowest index). It counts the cycles of the run and of every
// descriptor (written to the step-cycle memory).
`default_nettype none

module stqn_ctrl #(
  parameter integer LANES  = 16,
  parameter integer ROWS   = 2,
  parameter integer COLS   = 4,
  parameter integer ACC_W  = 24,
  parameter integer NTH    = 2,
  parameter integer ACT_BANK_DEPTH = 512,
  parameter integer WGT_DEPTH      = 16384,
  parameter integer THR_DEPTH      = 512,
  parameter integer LINE_DEPTH     = 256,  // write-back line-buffer words (fused pooling)
  parameter integer PROG_DEPTH     = 512,  // program memory words (8 per descriptor)
  parameter integer LOGITS = 64,
  // Derived widths: do not set.
  parameter integer AW     = $clog2(ACT_BANK_DEPTH),
  parameter integer WAW    = $clog2(WGT_DEPTH),
  parameter integer TAW    = $clog2(THR_DEPTH),
  parameter integer PAW    = $clog2(PROG_DEPTH),
  parameter integer SAW    = $clog2(PROG_DEPTH / 8),  // descriptor index bits
  parameter integer DIM_W  = 11,
  parameter integer CNT_W  = 10,
  parameter integer CODE_W = 9
) (
  input  wire                    clk_i,
  input  wire                    rst_ni,
  input  wire                    start_i,          // ignored while busy
  input  wire [15:0]             program_len_i,    // descriptors to run
  output wire                    busy_o,
  output wire                    done_o,           // sticky until start or reset
  output wire                    error_o,          // sticky until start or reset
  output wire [2:0]              error_code_o,
  output wire [SAW:0]            error_pc_o,
  output wire [$clog2(LOGITS)-1:0] class_o,
  output wire [31:0]             cycles_o,
  // Program memory read port (one-cycle latency).
  output wire                    prog_rd_en_o,
  output wire [PAW-1:0]          prog_rd_addr_o,
  input  wire [31:0]             prog_rd_data_i,
  // Per-descriptor cycle counts.
  output wire                    step_cyc_wr_en_o,
  output wire [SAW-1:0]          step_cyc_wr_addr_o,
  output wire [31:0]             step_cyc_wr_data_o,
  // Logit registers read port (one-cycle latency), for the argmax.
  output wire [$clog2(LOGITS)-1:0] logit_rd_addr_o,
  input  wire [31:0]             logit_rd_data_i,
  // stqn_core: conv layer.
  output wire                    core_start_o,
  input  wire                    core_busy_i,
  output wire [DIM_W-1:0]        cfg_in_h_o,
  output wire [DIM_W-1:0]        cfg_in_w_o,
  output wire [DIM_W-1:0]        cfg_out_h_o,
  output wire [DIM_W-1:0]        cfg_out_w_o,
  output wire [AW-1:0]           cfg_pix_words_o,
  output wire [AW-1:0]           cfg_row_words_o,
  output wire [AW-1:0]           cfg_row_off_o,
  output wire [AW-1:0]           cfg_col_off_o,
  output wire [CNT_W-1:0]        cfg_kernel_o,
  output wire [CNT_W-1:0]        cfg_pad_o,
  output wire [CNT_W-1:0]        cfg_chunks_o,
  output wire [CNT_W-1:0]        cfg_ogroups_o,
  output wire [CNT_W-1:0]        cfg_wplanes_o,
  output wire [CNT_W-1:0]        cfg_aplanes_o,
  output wire [3:0]              cfg_out_planes_o,
  output wire                    cfg_out_ternary_o,
  output wire                    cfg_out_signed_o,
  output wire [CODE_W-1:0]       cfg_act_min_o,
  output wire [8:0]              cfg_levels_o,
  output wire [CNT_W-1:0]        cfg_thr_words_o,
  output wire [TAW-1:0]          cfg_thr_base_o,
  output wire [AW-1:0]           cfg_in_base_o,
  output wire [AW-1:0]           cfg_out_base_o,
  output wire [WAW-1:0]          cfg_w_base_o,
  output wire                    cfg_logits_o,
  output wire [1:0]              cfg_pool_o,       // fused pooling: 0 none, 1 max 2 x 2 / 2, 2 sum
  output wire                    cfg_int8_o        // int8 stem mode: packed rows, int8 weights
);
  localparam integer LOGL = $clog2(LANES);
  localparam integer LOGR = $clog2(ROWS);
  localparam integer LOGC = $clog2(COLS);
  localparam integer LOGN = $clog2(NTH);
  localparam integer LW   = $clog2(LOGITS);
  // Int8 stem mode: image rows per activation word (one uint8 per row), as stqn_conv derives it;
  // a configuration with fewer than 8 bits per word (LANES < 4) refuses the mode.
  localparam integer PACK_ROWS = 2 * LANES / 8;
  localparam integer LOGP = (PACK_ROWS > 1) ? $clog2(PACK_ROWS) : 0;
  localparam         INT8_OK = PACK_ROWS >= 1;

  generate
    if ((1 << LOGL) != LANES || (1 << LOGR) != ROWS || (1 << LOGC) != COLS ||
        (1 << LOGN) != NTH || (1 << PAW) != PROG_DEPTH || PROG_DEPTH < 16 ||
        (1 << LW) != LOGITS) begin : g_bad_params
      $error("stqn_ctrl: LANES, ROWS, COLS, NTH, PROG_DEPTH and LOGITS must be powers of two");
    end
    // The region checks saturate products at 17 bits and compare 18-bit ends: every memory must
    // hold at most 2^16 words.
    if (ACT_BANK_DEPTH > 65536 || WGT_DEPTH > 65536 || THR_DEPTH > 65536 ||
        LINE_DEPTH > 65536) begin : g_bad_depths
      $error("stqn_ctrl: ACT_BANK_DEPTH, WGT_DEPTH, THR_DEPTH and LINE_DEPTH must be at most 65536 words");
    end
  endgenerate

  // Opcodes and error codes (docs/registers.md; models/include/stqn/accel/program.hpp).
  localparam [3:0] OP_CONV = 4'd1, OP_LOGITS = 4'd2;
  localparam [2:0] E_NONE = 3'd0, E_OPCODE = 3'd1, E_REGION = 3'd2, E_OVERLAP = 3'd3,
                   E_SHAPE = 3'd4, E_ACC = 3'd5, E_LENGTH = 3'd6;

  localparam [2:0] S_IDLE = 3'd0, S_FETCH = 3'd1, S_FIELDS = 3'd2, S_CHECK = 3'd3,
                   S_LAUNCH = 3'd4, S_WAIT = 3'd5, S_ARGMAX = 3'd6, S_NEXT = 3'd7;

  // ---- Descriptor words ---------------------------------------------------------------------
  reg [2:0]  state_q, state_d;
  reg [SAW:0] pc_q, pc_d;
  reg [3:0]  f_q, f_d;  // fetch: word being captured is f_q - 1
  reg [31:0] w0_q, w1_q, w2_q, w3_q, w4_q, w5_q, w6_q, w7_q;
  reg [31:0] w0_d, w1_d, w2_d, w3_d, w4_d, w5_d, w6_d, w7_d;

  wire [3:0]  op       = w0_q[3:0];
  wire [3:0]  aplanes  = w0_q[7:4];
  wire [3:0]  wplanes  = w0_q[11:8];
  wire [3:0]  oplanes  = w0_q[15:12];
  wire        oternary = w0_q[16];
  wire        osigned  = w0_q[17];
  wire [1:0]  pool     = w0_q[19:18];
  wire        int8     = w0_q[20];
  wire [15:0] in_c  = w1_q[15:0],  out_c = w1_q[31:16];
  wire [15:0] in_h  = w2_q[15:0],  in_w  = w2_q[31:16];
  wire [15:0] out_h = w3_q[15:0],  out_w = w3_q[31:16];
  wire [7:0]  kernel = w4_q[7:0], pad = w4_q[15:8], stride = w4_q[23:16], levels = w4_q[31:24];
  wire [15:0] in_base = w5_q[15:0], out_base = w5_q[31:16];
  wire [15:0] w_base  = w6_q[15:0], thr_base = w6_q[31:16];
  wire [15:0] act_min = w7_q[15:0];

  wire is_conv   = op == OP_CONV;
  wire is_logits = op == OP_LOGITS;
  wire is_weighted = is_conv || is_logits;
  localparam [1:0] POOL_NONE = 2'd0, POOL_MAX = 2'd1, POOL_SUM = 2'd2;
  wire fuse_max  = pool == POOL_MAX;
  wire fuse_sum  = pool == POOL_SUM;

  // Quantities derived by shifts (LANES, ROWS, COLS, NTH are powers of two).
  localparam [31:0] LANES_M1 = LANES - 1, ROWS_M1 = ROWS - 1, COLS_M1 = COLS - 1, NTH_M1 = NTH - 1;
  wire [16:0] chunks    = ({1'b0, in_c}  + LANES_M1[16:0]) >> LOGL;
  wire [16:0] ochunks   = ({1'b0, out_c} + LANES_M1[16:0]) >> LOGL;
  wire [16:0] ogroups   = ({1'b0, out_c} + ROWS_M1[16:0]) >> LOGR;
  wire [16:0] in_wb     = ({1'b0, in_w}  + COLS_M1[16:0]) >> LOGC;
  wire [16:0] out_wb    = ({1'b0, out_w} + COLS_M1[16:0]) >> LOGC;
  // The output map as written: max-pooled (floor halves), summed (1 x 1) or as computed.
  wire [15:0] pool_h    = fuse_max ? out_h >> 1 : (fuse_sum ? 16'd1 : out_h);
  wire [16:0] max_wb    = ({2'b0, out_w[15:1]} + COLS_M1[16:0]) >> LOGC;
  wire [16:0] pool_wb   = fuse_max ? max_wb : (fuse_sum ? 17'd1 : out_wb);
  // Sum-pool: the largest |code| (codes are act_min .. act_min + levels).
  wire signed [10:0] code_lo = act_min[10:0];
  wire signed [10:0] code_hi = code_lo + {3'b0, levels};
  wire [10:0] abs_lo = code_lo[10] ? -code_lo : code_lo;
  wire [10:0] abs_hi = code_hi[10] ? -code_hi : code_hi;
  wire [10:0] code_abs = abs_lo > abs_hi ? abs_lo : abs_hi;
  wire [8:0]  pad_q     = ({1'b0, pad} + COLS_M1[8:0]) >> LOGC;     // ceil(pad / COLS)
  wire [8:0]  thr_words = is_logits ? 9'd1 : ({1'b0, levels} + NTH_M1[8:0]) >> LOGN;
  wire [16:0] ochan_pad = ogroups << LOGR;                          // ogroups * ROWS
  // Largest |weight| and |input| of a tap (section 5: digit spans; int8 mode: -128 x 255).
  localparam [15:0] INT8_DW = 16'd128, INT8_DA = 16'd255;
  wire [15:0] dw = int8 ? INT8_DW : (16'd1 << wplanes) - 16'd1;
  wire [15:0] da = int8 ? INT8_DA : (16'd1 << aplanes) - 16'd1;
  // Int8 mode: the input region holds ceil(in_h / PACK_ROWS) word rows, and rows above the image
  // (padding) start floor(-pad / PACK_ROWS) = -ceil(pad / PACK_ROWS) word rows up.
  localparam [31:0] PACK_M1 = INT8_OK ? PACK_ROWS - 1 : 0;
  wire [16:0] packed_rows = ({1'b0, in_h} + PACK_M1[16:0]) >> LOGP;
  wire [8:0]  packed_pad  = ({1'b0, pad} + PACK_M1[8:0]) >> LOGP;
  wire [15:0] in_rows  = int8 ? packed_rows[15:0] : in_h;
  wire [7:0]  pad_rows = int8 ? packed_pad[7:0] : pad;
  // Conv output size: in + 2 pad - kernel + 1 (17 bits, no wrap for 16-bit fields).
  wire [17:0] conv_h_span = {2'b0, in_h} + {9'b0, pad, 1'b0};
  wire [17:0] conv_w_span = {2'b0, in_w} + {9'b0, pad, 1'b0};
  wire [17:0] conv_oh = conv_h_span - {10'b0, kernel} + 18'd1;
  wire [17:0] conv_ow = conv_w_span - {10'b0, kernel} + 18'd1;

  // ---- Field checks (one cycle, S_FIELDS) -----------------------------------------------------
  localparam [15:0] DIM_MAX = (16'd1 << DIM_W) - 16'd1;
  localparam [16:0] CNT_MAX = (17'd1 << CNT_W) - 17'd1;
  localparam [31:0] LOGITS_32 = LOGITS;
  localparam [16:0] LOGITS_17 = LOGITS_32[16:0];
  wire reserved_bad = w0_q[31:21] != 11'd0 || w7_q[31:16] != 16'd0;
  wire op_bad = !is_weighted || reserved_bad || pool == 2'd3;
  wire dims_bad = in_c == 16'd0 || out_c == 16'd0 || in_h == 16'd0 || in_w == 16'd0 ||
                  out_h == 16'd0 || out_w == 16'd0 || in_h > DIM_MAX || in_w > DIM_MAX ||
                  out_h > DIM_MAX || out_w > DIM_MAX || kernel == 8'd0 || pad >= kernel ||
                  chunks > CNT_MAX || aplanes == 4'd0 || aplanes > 4'd8;
  wire act_min_bad = $signed(act_min) < -16'sd256 || $signed(act_min) > 16'sd255;
  wire conv_bad = stride != 8'd1 || conv_h_span < {10'b0, kernel} || conv_w_span < {10'b0, kernel} ||
                  conv_oh != {2'b0, out_h} || conv_ow != {2'b0, out_w} || ogroups > CNT_MAX ||
                  wplanes == 4'd0 || wplanes > 4'd8;
  wire thr_bad = levels == 8'd0 || oplanes == 4'd0 || (!fuse_sum && oplanes > 4'd8) || act_min_bad ||
                 (oternary && oplanes != 4'd1);
  // Fused pooling: on a conv only; max-pool needs a 2 x 2 window, sums are int:out_planes.
  wire fuse_bad = (pool != POOL_NONE && !is_conv) || (fuse_max && (out_h < 16'd2 || out_w < 16'd2)) ||
                  (fuse_sum && (oternary || !osigned));
  wire logits_bad = {1'b0, out_c} > LOGITS_17 || out_h != 16'd1 || out_w != 16'd1;
  // Int8 stem mode: a conv on one channel of one plane (a uint8 per pixel), one weight plane.
  wire int8_bad = int8 && (!INT8_OK || !is_conv || in_c != 16'd1 || aplanes != 4'd1 ||
                           wplanes != 4'd1);
  wire shape_bad = dims_bad || conv_bad || (is_conv && thr_bad) || (is_logits && logits_bad) ||
                   fuse_bad || int8_bad;

  // ---- Product checks (S_CHECK): a micro-sequence over the serial multiplier ---------------------
  // step: product                       then
  //   0  chunks * aplanes               pix_words
  //   1  pix_words * in_wb              row_words
  //   2  row_words * in_h               input region inside the banks (int8: word rows)
  //   3  pad * row_words                row_off = -product (int8: word rows of padding)
  //   4  ceil(pad/COLS) * pix_words     col_off = -product
  //   5  kernel * kernel                chain
  //   6  chain * ogroups                chain
  //   7  chain * chunks                 chain
  //   8  chain * wplanes                weight region inside WGT_DEPTH
  //   9  ogroups*ROWS * thr_words       threshold region inside THR_DEPTH
  //  10  out_h * out_wb (as pooled)     chain                         (conv)
  //  11  chain * output chunks          chain
  //  12  chain * out planes             output region inside the banks, no overlap with input
  //  13  kernel * kernel                chain
  //  14  chain * in_c                   chain
  //  15  chain * (2^wplanes - 1)        chain                         (int8: 128)
  //  16  chain * (2^aplanes - 1)        accumulator bound < 2^(ACC_W-1) - 1 (int8: 255)
  //  17  xgroups (max) or 1 * ogroups   line-buffer words <= LINE_DEPTH (fused pooling)
  //  18  out_h * out_w                  chain                         (fused sum-pool)
  //  19  chain * max |code|             sums fit int:out_planes: < 2^(out_planes - 1)
  localparam [4:0] M_LAST = 5'd19;
  reg  [4:0]  m_q, m_d;
  reg         m_run_q, m_run_d;       // a product of step m_q is being computed
  reg  [31:0] chain_q, chain_d;
  reg  [AW-1:0] pix_q, pix_d, row_q, row_d, row_off_q, row_off_d, col_off_q, col_off_d;
  reg  [AW:0] in_words_q, in_words_d;
  // Steps 1 and 2 chain the saturated 32-bit products; steps 3 and 4 use the AW-bit copies,
  // exact once step 2 has checked that the input region fits the banks.
  wire [31:0] pix_q_ext = {{(32-AW){1'b0}}, pix_q};
  wire [31:0] row_q_ext = {{(32-AW){1'b0}}, row_q};
  reg  [31:0] mul_a;
  reg  [15:0] mul_b;
  reg         m_skip;
  wire        mul_done;
  wire [31:0] prod;

  always @(*) begin
    mul_a = chain_q;
    mul_b = 16'd0;
    m_skip = 1'b0;
    case (m_q)
      5'd0:  begin mul_a = {15'd0, chunks}; mul_b = {12'd0, aplanes}; end
      5'd1:  mul_b = in_wb[15:0];
      5'd2:  mul_b = in_rows;
      5'd3:  begin mul_a = row_q_ext; mul_b = {8'd0, pad_rows}; end
      5'd4:  begin mul_a = pix_q_ext; mul_b = {7'd0, pad_q}; end
      5'd5:  begin mul_a = {24'd0, kernel}; mul_b = {8'd0, kernel}; end
      5'd6:  mul_b = ogroups[15:0];
      5'd7:  mul_b = chunks[15:0];
      5'd8:  mul_b = {12'd0, wplanes};
      5'd9:  begin mul_a = {15'd0, ochan_pad}; mul_b = {7'd0, thr_words}; end
      5'd10: begin mul_a = {16'd0, pool_h}; mul_b = pool_wb[15:0]; m_skip = is_logits; end
      5'd11: begin mul_b = ochunks[15:0]; m_skip = is_logits; end
      5'd12: begin mul_b = {12'd0, oplanes}; m_skip = is_logits; end
      5'd13: begin mul_a = {24'd0, kernel}; mul_b = {8'd0, kernel}; end
      5'd14: mul_b = in_c;
      5'd15: mul_b = dw;
      5'd16: mul_b = da;
      5'd17: begin
        mul_a = {15'd0, fuse_max ? out_wb : 17'd1}; mul_b = ogroups[15:0]; m_skip = pool == POOL_NONE;
      end
      5'd18: begin mul_a = {16'd0, out_h}; mul_b = out_w; m_skip = !fuse_sum; end
      default: begin mul_b = {5'd0, code_abs}; m_skip = !fuse_sum; end
    endcase
  end

  stqn_mul_serial #(.A_W(32), .B_W(16)) u_mul (
    .clk_i  (clk_i),
    .rst_ni (rst_ni),
    .start_i(state_q == S_CHECK && !m_run_q && !m_skip),
    .a_i    (mul_a),
    .b_i    (mul_b),
    .done_o (mul_done),
    .p_o    (prod)
  );

  // Region ends. Every base is 16 bits and every memory at most 2^16 words, so the product is
  // saturated to 17 bits and one 18-bit adder and comparator serve all four region checks.
  localparam [31:0] ACT_DEPTH_32 = ACT_BANK_DEPTH;
  localparam [31:0] WGT_DEPTH_32 = WGT_DEPTH;
  localparam [31:0] THR_DEPTH_32 = THR_DEPTH;
  localparam [31:0] LINE_DEPTH_32 = LINE_DEPTH;
  wire [16:0] prod17 = |prod[31:17] ? 17'h1ffff : prod[16:0];
  reg  [15:0] region_base;
  reg  [17:0] region_limit;
  always @(*) begin
    case (m_q)
      5'd8:    {region_base, region_limit} = {w_base, WGT_DEPTH_32[17:0]};
      5'd9:    {region_base, region_limit} = {thr_base, THR_DEPTH_32[17:0]};
      5'd12:   {region_base, region_limit} = {out_base, ACT_DEPTH_32[17:0]};
      5'd17:   {region_base, region_limit} = {16'd0, LINE_DEPTH_32[17:0]};
      default: {region_base, region_limit} = {in_base, ACT_DEPTH_32[17:0]};
    endcase
  end
  wire [17:0] region_end = {2'b00, region_base} + {1'b0, prod17};
  wire [17:0] in_end_q = {2'b00, in_base} + {{(17-AW){1'b0}}, in_words_q};
  wire        overlap = {2'b00, in_base} < region_end && {2'b00, out_base} < in_end_q;
  wire [32:0] acc_limit = (33'd1 << (ACC_W - 1)) - 33'd1;
  wire [32:0] sum_limit = 33'd1 << (oplanes - 4'd1);  // int:P holds |sum| < 2^(P-1)
  // Result of the step that just finished: an error code or E_NONE.
  reg [2:0] m_err;
  always @(*) begin
    m_err = E_NONE;
    case (m_q)
      5'd2, 5'd8, 5'd9, 5'd17: if (region_end > region_limit) m_err = E_REGION;
      5'd12: if (region_end > region_limit) m_err = E_REGION;
             else if (overlap) m_err = E_OVERLAP;
      5'd16: if ({1'b0, prod} >= acc_limit) m_err = E_ACC;
      5'd19: if ({1'b0, prod} >= sum_limit) m_err = E_ACC;
      default: m_err = E_NONE;
    endcase
  end

  // ---- Run, argmax, cycle counts ----------------------------------------------------------------
  reg          busy_q, busy_d, done_q, done_d, error_q, error_d;
  reg  [2:0]   ecode_q, ecode_d;
  reg  [31:0]  cycles_q, cycles_d, step_start_q, step_start_d;
  reg  [LW:0]  ai_q, ai_d;               // argmax: next logit address to read
  reg          a_valid_q, a_valid_d;     // the logit read last cycle arrives now
  reg  [LW-1:0] a_idx_q, a_idx_d, class_q, class_d;
  reg  signed [31:0] best_q, best_d;
  reg          cyc_we;
  wire         pc_last = pc_q + 1'b1 == program_len_i[SAW:0];
  localparam [31:0] STEPS_32 = PROG_DEPTH / 8;
  wire         len_bad = program_len_i == 16'd0 || program_len_i > STEPS_32[15:0];
  wire [LW:0]  classes = out_c[LW:0];

  always @(*) begin
    state_d = state_q;
    {pc_d, f_d, m_d, m_run_d, chain_d} = {pc_q, f_q, m_q, m_run_q, chain_q};
    {w0_d, w1_d, w2_d, w3_d, w4_d, w5_d, w6_d, w7_d} = {w0_q, w1_q, w2_q, w3_q, w4_q, w5_q, w6_q, w7_q};
    {pix_d, row_d, row_off_d, col_off_d, in_words_d} = {pix_q, row_q, row_off_q, col_off_q, in_words_q};
    {busy_d, done_d, error_d, ecode_d} = {busy_q, done_q, error_q, ecode_q};
    {cycles_d, step_start_d} = {cycles_q + {31'd0, busy_q}, step_start_q};
    {ai_d, a_valid_d, a_idx_d, class_d, best_d} = {ai_q, 1'b0, a_idx_q, class_q, best_q};
    cyc_we = 1'b0;
    case (state_q)
      S_IDLE: if (start_i) begin
        {done_d, error_d, ecode_d} = {1'b0, 1'b0, E_NONE};
        {pc_d, cycles_d, step_start_d} = {{(SAW+1){1'b0}}, 32'd0, 32'd0};
        if (len_bad) begin
          {error_d, ecode_d} = {1'b1, E_LENGTH};
        end else begin
          busy_d = 1'b1;
          state_d = S_FETCH;
          f_d = 4'd0;
        end
      end
      S_FETCH: begin  // read address pc*8 + f issued while f < 8; word f-1 arrives
        f_d = f_q + 1'b1;
        case (f_q)
          4'd1: w0_d = prog_rd_data_i;
          4'd2: w1_d = prog_rd_data_i;
          4'd3: w2_d = prog_rd_data_i;
          4'd4: w3_d = prog_rd_data_i;
          4'd5: w4_d = prog_rd_data_i;
          4'd6: w5_d = prog_rd_data_i;
          4'd7: w6_d = prog_rd_data_i;
          4'd8: w7_d = prog_rd_data_i;
          default: ;
        endcase
        if (f_q == 4'd8) state_d = S_FIELDS;
      end
      S_FIELDS: begin
        {m_d, m_run_d} = {5'd0, 1'b0};
        if (op_bad)         {error_d, ecode_d, state_d} = {1'b1, E_OPCODE, S_IDLE};
        else if (shape_bad) {error_d, ecode_d, state_d} = {1'b1, E_SHAPE, S_IDLE};
        else                state_d = S_CHECK;
      end
      S_CHECK: begin
        if (m_skip && !m_run_q) begin
          m_d = m_q + 1'b1;
          if (m_q == M_LAST) state_d = S_LAUNCH;
        end else if (!m_run_q) begin
          m_run_d = 1'b1;
        end else if (mul_done) begin
          m_run_d = 1'b0;
          m_d = m_q + 1'b1;
          chain_d = prod;
          if (m_q == 5'd0) pix_d = prod[AW-1:0];
          if (m_q == 5'd1) row_d = prod[AW-1:0];
          if (m_q == 5'd2) in_words_d = prod[AW:0];
          if (m_q == 5'd3) row_off_d = {AW{1'b0}} - prod[AW-1:0];
          if (m_q == 5'd4) col_off_d = {AW{1'b0}} - prod[AW-1:0];
          if (m_err != E_NONE) {error_d, ecode_d, state_d} = {1'b1, m_err, S_IDLE};
          else if (m_q == M_LAST) state_d = S_LAUNCH;
        end
      end
      S_LAUNCH: begin  // core_start_o is high in this state
        state_d = S_WAIT;
        f_d = 4'd0;
      end
      S_WAIT: if (f_q == 4'd0) begin
        f_d = 4'd1;  // one cycle for the started unit to raise its busy flag
      end else if (!core_busy_i) begin
        if (is_logits) begin
          state_d = S_ARGMAX;
          {ai_d, a_idx_d, class_d} = {{(LW+1){1'b0}}, {LW{1'b0}}, {LW{1'b0}}};
        end else begin
          state_d = S_NEXT;
        end
      end
      S_ARGMAX: begin  // address ai_q goes out; the word of a_idx_q (read last cycle) arrives
        if (ai_q < classes) begin
          ai_d = ai_q + 1'b1;
          a_valid_d = 1'b1;
          a_idx_d = ai_q[LW-1:0];
        end
        if (a_valid_q && (a_idx_q == {LW{1'b0}} || $signed(logit_rd_data_i) > best_q)) begin
          best_d = $signed(logit_rd_data_i);
          class_d = a_idx_q;
        end
        if (ai_q == classes && !a_valid_q) state_d = S_NEXT;
      end
      default: begin  // S_NEXT
        // The descriptor's count runs from its fetch to here, argmax included, so that the counts
        // of a run add up to CYCLES.
        cyc_we = 1'b1;
        step_start_d = cycles_q + 32'd1;
        if (pc_last) begin
          {busy_d, done_d, state_d} = {1'b0, 1'b1, S_IDLE};
        end else begin
          pc_d = pc_q + 1'b1;
          f_d = 4'd0;
          state_d = S_FETCH;
        end
      end
    endcase
    if (error_d && !error_q) busy_d = 1'b0;
  end

  always @(posedge clk_i) begin
    if (!rst_ni) begin
      state_q <= S_IDLE;
      {busy_q, done_q, error_q, ecode_q} <= {1'b0, 1'b0, 1'b0, E_NONE};
      {pc_q, cycles_q, class_q} <= {{(SAW+1){1'b0}}, 32'd0, {LW{1'b0}}};
      {m_run_q, a_valid_q} <= 2'b00;
    end else begin
      state_q <= state_d;
      {busy_q, done_q, error_q, ecode_q} <= {busy_d, done_d, error_d, ecode_d};
      {pc_q, cycles_q, class_q} <= {pc_d, cycles_d, class_d};
      {m_run_q, a_valid_q} <= {m_run_d, a_valid_d};
    end
    {f_q, m_q, chain_q, step_start_q} <= {f_d, m_d, chain_d, step_start_d};
    {w0_q, w1_q, w2_q, w3_q, w4_q, w5_q, w6_q, w7_q} <= {w0_d, w1_d, w2_d, w3_d, w4_d, w5_d, w6_d, w7_d};
    {pix_q, row_q, row_off_q, col_off_q, in_words_q} <= {pix_d, row_d, row_off_d, col_off_d, in_words_d};
    {ai_q, a_idx_q, best_q} <= {ai_d, a_idx_d, best_d};
  end

  // ---- Outputs ------------------------------------------------------------------------------
  wire [PAW-1:0] pc_word = {pc_q[SAW-1:0], 3'b000};
  assign prog_rd_en_o   = state_q == S_FETCH && f_q < 4'd8;
  assign prog_rd_addr_o = pc_word | {{(PAW-3){1'b0}}, f_q[2:0]};
  assign step_cyc_wr_en_o   = cyc_we;
  assign step_cyc_wr_addr_o = pc_q[SAW-1:0];
  assign step_cyc_wr_data_o = cycles_q - step_start_q + 32'd1;
  assign logit_rd_addr_o    = ai_q[LW-1:0];

  assign busy_o = busy_q;
  assign done_o = done_q;
  assign error_o = error_q;
  assign error_code_o = ecode_q;
  assign error_pc_o = error_q ? pc_q : {(SAW+1){1'b0}};
  assign class_o = class_q;
  assign cycles_o = cycles_q;

  wire launch = state_q == S_LAUNCH;
  assign core_start_o = launch;
  assign cfg_in_h_o      = in_h[DIM_W-1:0];
  assign cfg_in_w_o      = in_w[DIM_W-1:0];
  assign cfg_out_h_o     = out_h[DIM_W-1:0];
  assign cfg_out_w_o     = out_w[DIM_W-1:0];
  assign cfg_pix_words_o = pix_q;
  assign cfg_row_words_o = row_q;
  assign cfg_row_off_o   = row_off_q;
  assign cfg_col_off_o   = col_off_q;
  assign cfg_kernel_o    = {{(CNT_W-8){1'b0}}, kernel};
  assign cfg_pad_o       = {{(CNT_W-8){1'b0}}, pad};
  assign cfg_chunks_o    = chunks[CNT_W-1:0];
  assign cfg_ogroups_o   = ogroups[CNT_W-1:0];
  assign cfg_wplanes_o   = {{(CNT_W-4){1'b0}}, wplanes};
  assign cfg_aplanes_o   = {{(CNT_W-4){1'b0}}, aplanes};
  assign cfg_out_planes_o  = oplanes;
  assign cfg_out_ternary_o = oternary;
  assign cfg_out_signed_o  = osigned;
  assign cfg_act_min_o   = act_min[CODE_W-1:0];
  assign cfg_levels_o    = {1'b0, levels};
  assign cfg_thr_words_o = {{(CNT_W-9){1'b0}}, thr_words};
  assign cfg_thr_base_o  = thr_base[TAW-1:0];
  assign cfg_in_base_o   = in_base[AW-1:0];
  assign cfg_out_base_o  = out_base[AW-1:0];
  assign cfg_w_base_o    = w_base[WAW-1:0];
  assign cfg_logits_o    = is_logits;
  assign cfg_pool_o      = pool;
  assign cfg_int8_o      = int8;

  wire unused_ok = &{1'b0, ochunks[16], in_wb[16], out_wb[16], pool_wb[16], packed_rows[16],
                     packed_pad[8]};
endmodule

`default_nettype wire
