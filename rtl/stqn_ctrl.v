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
// argmax of the logits (ties to the lowest index). It counts the cycles of the run and writes
// the number of each descriptor's last cycle to the step-cycle memory (the host takes
// differences: one counter instead of a second per-descriptor one).
//
// Two processes: the checker (state_q) fetches and checks descriptor pc, the runner (run_q)
// launches a checked descriptor on the datapath and waits for it (and the argmax). With
// CHECK_AHEAD the checker fetches and checks descriptor pc + 1 while the runner runs pc, into its
// own registers; the runner holds a copy of the running descriptor (run_cfg_q, ~200 flip-flops),
// and launches the next one in the cycle its layer ends. A check that fails while a layer runs
// waits for that layer (and its argmax) to end, then raises the error at the failing index.
// Without CHECK_AHEAD (the area-critical up5k) the checker waits for each layer to end and the
// datapath reads the checker's registers.
//
// Area: the bit-field checks (zero, range, reserved bits) are made on each word as it is fetched,
// and only the fields the datapath needs are kept. Everything arithmetic (the conv size, the
// region sizes and ends, the bounds, the derived address-generator fields) runs on one narrow
// check engine: an ALU_W-bit adder with an accumulator P and a multiplicand A, driven by a
// table of steps (below) that re-read their operands from the program memory. Products are
// bit-serial (one bit of a field per cycle, MSB first) and saturate: an overflow sets a sticky
// flag that fails every later bound.
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
  parameter integer CHECK_AHEAD    = 0,    // check descriptor i + 1 while layer i runs
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
  // Each descriptor's last cycle (CYCLES - 1 for the last descriptor).
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
  // Int8 stem mode: image rows per activation word (one uint8 at the start of each half word, or
  // one row when the word is a byte), as stqn_conv derives it; a configuration with fewer than 8
  // bits per word (LANES < 4) refuses the mode.
  localparam integer PACK_ROWS = (LANES >= 8) ? 2 : 1;
  localparam integer LOGP = (PACK_ROWS > 1) ? $clog2(PACK_ROWS) : 0;
  localparam         INT8_OK = LANES >= 4;
  // Check engine width: the accumulator bound needs ACC_W bits, a region end (a 16-bit base plus
  // a size compared with a memory of at most 2^16 words) 18.
  localparam integer ALU_W = (ACC_W > 18) ? ACC_W : 18;

  generate
    if ((1 << LOGL) != LANES || (1 << LOGR) != ROWS || (1 << LOGC) != COLS ||
        (1 << LOGN) != NTH || (1 << PAW) != PROG_DEPTH || PROG_DEPTH < 16 ||
        (1 << LW) != LOGITS) begin : g_bad_params
      $error("stqn_ctrl: LANES, ROWS, COLS, NTH, PROG_DEPTH and LOGITS must be powers of two");
    end
    if (ACT_BANK_DEPTH > 65536 || WGT_DEPTH > 65536 || THR_DEPTH > 65536 ||
        LINE_DEPTH > 65536 || ACC_W < 16 || ACC_W > 31 || LOGL > 8) begin : g_bad_depths
      $error("stqn_ctrl: memories of at most 65536 words, 16 <= ACC_W <= 31 and LANES <= 256");
    end
  endgenerate

  // Opcodes and error codes (docs/registers.md; models/include/stqn/accel/program.hpp).
  localparam [3:0] OP_CONV = 4'd1, OP_LOGITS = 4'd2;
  localparam [2:0] E_NONE = 3'd0, E_OPCODE = 3'd1, E_REGION = 3'd2, E_OVERLAP = 3'd3,
                   E_SHAPE = 3'd4, E_ACC = 3'd5, E_LENGTH = 3'd6;
  localparam [1:0] POOL_NONE = 2'd0, POOL_MAX = 2'd1, POOL_SUM = 2'd2;

  // Checker: S_READY checked, waiting for the runner; S_HOLD launched, waiting for its layer to
  // end (the last descriptor, or always without CHECK_AHEAD); S_FAIL a check failed, waiting for
  // the running layer to end. Runner: R_DONE is the last cycle of a layer (its count is written).
  localparam [2:0] S_IDLE = 3'd0, S_FETCH = 3'd1, S_CHECK = 3'd2, S_READY = 3'd3,
                   S_HOLD = 3'd4, S_FAIL = 3'd5;
  localparam [2:0] R_IDLE = 3'd0, R_LAUNCH = 3'd1, R_WAIT = 3'd2, R_ARGMAX = 3'd3, R_DONE = 3'd4;

  reg [2:0]   state_q, state_d, run_q, run_d;
  reg         rw_q, rw_d;  // R_WAIT: the started unit has had a cycle to raise its busy flag
  reg [SAW:0] pc_q, pc_d;
  reg [3:0]   f_q, f_d;  // fetch: word being captured is f_q - 1

  // ---- Fetch: keep the fields the datapath needs, check the bit fields as each word arrives ----
  wire [31:0] d = prog_rd_data_i;
  wire [15:0] dlo = d[15:0], dhi = d[31:16];
  // Limits as bit tests (no comparators): a dimension above 2^DIM_W - 1; ceil(c / 2^k) above
  // CNT_MAX = 2^CNT_W - 1, i.e. c above CNT_MAX * 2^k; a class count above LOGITS = 2^LW.
  wire lo_z1 = dlo[15:1] == 15'd0, hi_z1 = dhi[15:1] == 15'd0;
  wire lo_zero = lo_z1 && !dlo[0], hi_zero = hi_z1 && !dhi[0];
  wire lo_one  = lo_z1 && dlo[0],  hi_one  = hi_z1 && dhi[0];
  wire [31:0] dlo32 = {16'd0, dlo}, dhi32 = {16'd0, dhi};
  localparam [31:0] LANES_M1 = LANES - 1, ROWS_M1 = ROWS - 1, LOGITS_M1 = LOGITS - 1;
  wire in_c_big  = dlo32[31:CNT_W+LOGL] != 0 || (&dlo32[CNT_W+LOGL-1:LOGL] && (dlo32 & LANES_M1) != 0);
  wire out_c_big = dhi32[31:CNT_W+LOGR] != 0 || (&dhi32[CNT_W+LOGR-1:LOGR] && (dhi32 & ROWS_M1) != 0);
  wire classes_big = dhi32[31:LW+1] != 0 || (dhi32[LW] && (dhi32 & LOGITS_M1) != 0);
  wire dims_bad = lo_zero || hi_zero || dlo[15:DIM_W] != 0 || dhi[15:DIM_W] != 0;  // w2, w3

  reg [3:0]  apl_q, apl_d, wpl_q, wpl_d, opl_q, opl_d;
  reg        tern_q, tern_d, sgn_q, sgn_d, logits_q, logits_d, int8_q, int8_d;
  reg [1:0]  pool_q, pool_d;
  reg [DIM_W-1:0] in_h_q, in_h_d, in_w_q, in_w_d, out_h_q, out_h_d, out_w_q, out_w_d;
  reg [7:0]  kernel_q, kernel_d, pad_q, pad_d, levels_q, levels_d;
  reg [AW-1:0]  in_base_q, in_base_d, out_base_q, out_base_d;
  reg [WAW-1:0] w_base_q, w_base_d;
  reg [TAW-1:0] thr_base_q, thr_base_d;
  reg [CODE_W-1:0] act_min_q, act_min_d;
  reg [LW:0] classes_q, classes_d;          // out_c as far as the argmax needs it
  reg        op_bad_q, op_bad_d, shape_bad_q, shape_bad_d;
  wire       fuse_max = pool_q == POOL_MAX, fuse_sum = pool_q == POOL_SUM;

  // w0 as it arrives.
  wire [3:0] d_op = d[3:0], d_apl = d[7:4], d_wpl = d[11:8], d_opl = d[15:12];
  wire [1:0] d_pool = d[19:18];
  wire d_conv = d_op == OP_CONV, d_tern = d[16], d_sgn = d[17], d_int8 = d[20];
  wire w0_op_bad = !(d_conv || d_op == OP_LOGITS) || d[31:21] != 11'd0 || d_pool == 2'd3;
  wire w0_shape_bad =
      d_apl == 4'd0 || d_apl > 4'd8 || d_wpl == 4'd0 || d_wpl > 4'd8 ||
      (d_conv && (d_opl == 4'd0 || (d_pool != POOL_SUM && d_opl > 4'd8) || (d_tern && d_opl != 4'd1))) ||
      (d_pool != POOL_NONE && !d_conv) || (d_pool == POOL_SUM && (d_tern || !d_sgn)) ||
      (d_int8 && (!INT8_OK || !d_conv || d_apl != 4'd1 || d_wpl != 4'd1));

  always @(*) begin
    {apl_d, wpl_d, opl_d, tern_d, sgn_d, pool_d, int8_d, logits_d} =
        {apl_q, wpl_q, opl_q, tern_q, sgn_q, pool_q, int8_q, logits_q};
    {in_h_d, in_w_d, out_h_d, out_w_d} = {in_h_q, in_w_q, out_h_q, out_w_q};
    {kernel_d, pad_d, levels_d, act_min_d, classes_d} = {kernel_q, pad_q, levels_q, act_min_q, classes_q};
    {in_base_d, out_base_d, w_base_d, thr_base_d} = {in_base_q, out_base_q, w_base_q, thr_base_q};
    {op_bad_d, shape_bad_d} = {op_bad_q, shape_bad_q};
    if (state_q == S_FETCH) begin
      case (f_q)
        4'd1: begin  // w0: opcode, planes, output code, pool, int8; reserved bits
          {int8_d, pool_d, sgn_d, tern_d, opl_d, wpl_d, apl_d} = d[20:4];
          logits_d = d_op == OP_LOGITS;
          op_bad_d = w0_op_bad;
          shape_bad_d = w0_shape_bad;
        end
        4'd2: begin  // w1: in_c, out_c
          classes_d = dhi[LW:0];
          if (lo_zero || hi_zero || in_c_big || out_c_big || (logits_q && classes_big) ||
              (int8_q && !lo_one)) shape_bad_d = 1'b1;
        end
        4'd3: begin  // w2: in_h, in_w
          {in_w_d, in_h_d} = {dhi[DIM_W-1:0], dlo[DIM_W-1:0]};
          if (dims_bad) shape_bad_d = 1'b1;
        end
        4'd4: begin  // w3: out_h, out_w; logits are 1 x 1, a max-pool needs 2 x 2
          {out_w_d, out_h_d} = {dhi[DIM_W-1:0], dlo[DIM_W-1:0]};
          if (dims_bad || (logits_q && !(lo_one && hi_one)) || (fuse_max && (lo_one || hi_one)))
            shape_bad_d = 1'b1;
        end
        4'd5: begin  // w4: kernel, pad, stride, levels (pad < kernel: check step 2)
          {levels_d, pad_d, kernel_d} = {d[31:24], d[15:0]};
          if (d[23:16] != 8'd1 || (!logits_q && d[31:24] == 8'd0)) shape_bad_d = 1'b1;
        end
        4'd6: {out_base_d, in_base_d} = {dhi[AW-1:0], dlo[AW-1:0]};
        4'd7: {thr_base_d, w_base_d} = {dhi[TAW-1:0], dlo[WAW-1:0]};
        4'd8: begin  // w7: act_min in -256 .. 255 (conv), reserved bits
          act_min_d = dlo[CODE_W-1:0];
          if (!hi_zero) op_bad_d = 1'b1;
          if (!logits_q && dlo[15:8] != 8'h00 && dlo[15:8] != 8'hff) shape_bad_d = 1'b1;
        end
        default: ;
      endcase
    end
  end

  // ---- Check engine ---------------------------------------------------------------------------
  // Each step issues the read of its descriptor word, waits a cycle for it, then runs. Ops:
  //   LD   P = X            ADD P += X         SUB P -= X         SBC P -= X + 1
  //   CMP  flags of P - X   CMPB flags of P - X - 1 (carry: P > X)   INC flags of P + 1
  //   CLAMP P = max(P, 0)   TST a flag of the fetch
  //   MUL  A = P, P = A * F     MULK P = A * F (A kept)     NMUL A = P, P = -(A * F)
  // F is a field of the step's word taken one bit per cycle, MSB first, divided by 2^k with
  // rounding up (bits below the quotient only decide a final + A), or a special operand (ones,
  // a power of two). Tests: REG fails on carry or saturation (E_REGION), BIG on a value of at
  // least 2^(ACC_W-1) (E_ACC), PAD on carry (E_SHAPE), NZ on a nonzero result (E_SHAPE), OV1
  // keeps the carry for OV2, which fails on both (E_OVERLAP), FLAG on the fetch's flags (E_OPCODE,
  // else E_SHAPE). A step that tests (but OV1) leaves P = 1, the start of the next product chain;
  // a skipped step leaves P as it is (a factor of 1).
  //
  // step   computes                                                 test           runs
  //  0     the fetch's opcode and shape flags                       FLAG
  //  1-2   pad >= kernel (also kernel = 0)                          PAD
  //  3-7   out_h + kernel - pad - 1 - pad - in_h                    NZ             conv size
  //  8-12  the same for the widths                                  NZ
  // 13-18  chunks = ceil(in_c/LANES), pix_words = chunks * aplanes,
  //        col_off = -(ceil(pad/COLS) * pix_words), row_words = pix_words * ceil(in_w/COLS),
  //        row_off = -(pad_rows * row_words), input words = row_words * in_rows
  //                                      (int8: pad_rows, in_rows in word rows of R image rows)
  // 19-20  in_end = in_base + input words > ACT_BANK_DEPTH          REG
  // 21-27  w_base + ogroups * chunks * wplanes * kernel^2 > WGT_DEPTH          REG
  //                                      (ogroups = ceil(out_c/ROWS))
  // 28-32  thr_base + thr_words * ogroups * ROWS > THR_DEPTH        REG
  //                                      (thr_words = ceil(levels/NTH); logits: 1)
  // 33-37  out_end = out_base + ph * ceil(pw/COLS) * ceil(out_c/LANES) * out_planes  conv only
  //                                      (ph x pw: the map as written, pooled)
  // 38     in_base < out_end                                         OV1            conv only
  // 39     out_end > ACT_BANK_DEPTH                                  REG            conv only
  // 40-41  out_base < in_end                                        OV2            conv only
  // 42-47  kernel^2 * in_c * (2^wplanes - 1) * (2^aplanes - 1) >= 2^(ACC_W-1) - 1   BIG
  //                                      (int8: 128 * 255)
  // 48-50  ogroups * (max-pool: ceil(out_w/COLS)) > LINE_DEPTH      REG            pools
  // 51-57  max(act_min + levels, 0) * out_h * out_w * 2^(ACC_W - out_planes)
  //        >= 2^(ACC_W-1), i.e. the sums need out_planes + 1 bits  BIG            sum-pool
  // 58-63  the same for max(-act_min, 0)                            BIG            sum-pool
  localparam [3:0] OP_TST = 4'd0, OP_LD = 4'd1, OP_ADD = 4'd2, OP_SUB = 4'd3, OP_SBC = 4'd4,
                   OP_CMP = 4'd5, OP_CMPB = 4'd6, OP_INC = 4'd7, OP_CLAMP = 4'd8, OP_MUL = 4'd9,
                   OP_MULK = 4'd10, OP_NMUL = 4'd11;
  // Operands X of the parallel ops (of the step's word; constants).
  localparam [4:0] X_0 = 5'd0, X_LO = 5'd1, X_HI = 5'd2, X_B0 = 5'd3, X_B1 = 5'd4, X_B3 = 5'd5,
                   X_SEXT = 5'd6, X_END = 5'd7, X_ACT = 5'd8, X_WGT = 5'd9, X_THR = 5'd10,
                   X_LINE = 5'd11;
  // Factors F of the products.
  localparam [4:0] F_CHUNKS = 5'd0, F_APL = 5'd1, F_PADQ = 5'd2, F_INWB = 5'd3, F_PADR = 5'd4,
                   F_INROWS = 5'd5, F_OG = 5'd6, F_WPL = 5'd7, F_KER = 5'd8, F_THRW = 5'd9,
                   F_ROWS = 5'd10, F_POOLH = 5'd11, F_POOLWB = 5'd12, F_OCH = 5'd13, F_OPL = 5'd14,
                   F_INC = 5'd15, F_DW = 5'd16, F_DA = 5'd17, F_OUTWB = 5'd18, F_OUTH = 5'd19,
                   F_OUTW = 5'd20, F_POW = 5'd21;
  // Tests and the error code a failure reports.
  localparam [2:0] T_NONE = 3'd0, T_REG = 3'd1, T_BIG = 3'd2, T_PAD = 3'd3, T_NZ = 3'd4, T_OV1 = 3'd5,
                   T_OV2 = 3'd6, T_FLAG = 3'd7;
  localparam [3:0] D_NONE = 4'd0, D_CHUNKS = 4'd1, D_PIX = 4'd2, D_COLOFF = 4'd3, D_ROW = 4'd4,
                   D_ROWOFF = 4'd5, D_END = 4'd6, D_OG = 4'd7, D_THRW = 4'd8;
  localparam [2:0] K_NO = 3'd0, K_LOGITS = 3'd1, K_LOGSUM = 3'd2, K_NOTSUM = 3'd3, K_NOTMAX = 3'd4,
                   K_NOPOOL = 3'd5;
  localparam [2:0] W0 = 3'd0, W1 = 3'd1, W2 = 3'd2, W3 = 3'd3, W4 = 3'd4, W5 = 3'd5, W6 = 3'd6,
                   W7 = 3'd7;
  localparam integer STEPS = 64;
  localparam [31:0] LAST_32 = STEPS - 1;
  localparam [5:0] M_LAST = LAST_32[5:0];
  localparam integer STEP_W = 4 + 3 + 5 + 3 + 4 + 3;

  reg [5:0] m_q, m_d;         // step
  reg [1:0] ph_q, ph_d;       // 0: read issued, 1: run, 2: a product's final +A
  function automatic [STEP_W-1:0] step_row(input [5:0] i);
    case (i)
      //                op        word sel       test    dst       skip
      6'd0:   step_row = {OP_TST,   W0, X_0,      T_FLAG, D_NONE,   K_NO};
      6'd1:   step_row = {OP_LD,    W4, X_B1,     T_NONE, D_NONE,   K_NO};
      6'd2:   step_row = {OP_CMP,   W4, X_B0,     T_PAD,  D_NONE,   K_NO};
      6'd3:   step_row = {OP_LD,    W3, X_LO,     T_NONE, D_NONE,   K_NO};
      6'd4:   step_row = {OP_ADD,   W4, X_B0,     T_NONE, D_NONE,   K_NO};
      6'd5:   step_row = {OP_SBC,   W4, X_B1,     T_NONE, D_NONE,   K_NO};
      6'd6:   step_row = {OP_SUB,   W4, X_B1,     T_NONE, D_NONE,   K_NO};
      6'd7:   step_row = {OP_SUB,   W2, X_LO,     T_NZ,   D_NONE,   K_NO};
      6'd8:   step_row = {OP_LD,    W3, X_HI,     T_NONE, D_NONE,   K_NO};
      6'd9:   step_row = {OP_ADD,   W4, X_B0,     T_NONE, D_NONE,   K_NO};
      6'd10:  step_row = {OP_SBC,   W4, X_B1,     T_NONE, D_NONE,   K_NO};
      6'd11:  step_row = {OP_SUB,   W4, X_B1,     T_NONE, D_NONE,   K_NO};
      6'd12:  step_row = {OP_SUB,   W2, X_HI,     T_NZ,   D_NONE,   K_NO};
      // input region
      6'd13:  step_row = {OP_MUL,   W1, F_CHUNKS, T_NONE, D_CHUNKS, K_NO};
      6'd14:  step_row = {OP_MUL,   W0, F_APL,    T_NONE, D_PIX,    K_NO};
      6'd15:  step_row = {OP_NMUL,  W4, F_PADQ,   T_NONE, D_COLOFF, K_NO};
      6'd16:  step_row = {OP_MULK,  W2, F_INWB,   T_NONE, D_ROW,    K_NO};
      6'd17:  step_row = {OP_NMUL,  W4, F_PADR,   T_NONE, D_ROWOFF, K_NO};
      6'd18:  step_row = {OP_MULK,  W2, F_INROWS, T_NONE, D_NONE,   K_NO};
      6'd19:  step_row = {OP_ADD,   W5, X_LO,     T_NONE, D_END,    K_NO};
      6'd20:  step_row = {OP_CMPB,  W5, X_ACT,    T_REG,  D_NONE,   K_NO};
      // weight region
      6'd21:  step_row = {OP_MUL,   W1, F_OG,     T_NONE, D_OG,     K_NO};
      6'd22:  step_row = {OP_MUL,   W1, F_CHUNKS, T_NONE, D_NONE,   K_NO};
      6'd23:  step_row = {OP_MUL,   W0, F_WPL,    T_NONE, D_NONE,   K_NO};
      6'd24:  step_row = {OP_MUL,   W4, F_KER,    T_NONE, D_NONE,   K_NO};
      6'd25:  step_row = {OP_MUL,   W4, F_KER,    T_NONE, D_NONE,   K_NO};
      6'd26:  step_row = {OP_ADD,   W6, X_LO,     T_NONE, D_NONE,   K_NO};
      6'd27:  step_row = {OP_CMPB,  W6, X_WGT,    T_REG,  D_NONE,   K_NO};
      // threshold region
      6'd28:  step_row = {OP_MUL,   W4, F_THRW,   T_NONE, D_THRW,   K_NO};
      6'd29:  step_row = {OP_MUL,   W1, F_OG,     T_NONE, D_NONE,   K_NO};
      6'd30:  step_row = {OP_MUL,   W1, F_ROWS,   T_NONE, D_NONE,   K_NO};
      6'd31:  step_row = {OP_ADD,   W6, X_HI,     T_NONE, D_NONE,   K_NO};
      6'd32:  step_row = {OP_CMPB,  W6, X_THR,    T_REG,  D_NONE,   K_NO};
      // output region and overlap (conv)
      6'd33:  step_row = {OP_MUL,   W3, F_POOLH,  T_NONE, D_NONE,   K_LOGSUM};
      6'd34:  step_row = {OP_MUL,   W3, F_POOLWB, T_NONE, D_NONE,   K_LOGSUM};
      6'd35:  step_row = {OP_MUL,   W1, F_OCH,    T_NONE, D_NONE,   K_LOGITS};
      6'd36:  step_row = {OP_MUL,   W0, F_OPL,    T_NONE, D_NONE,   K_LOGITS};
      6'd37:  step_row = {OP_ADD,   W5, X_HI,     T_NONE, D_NONE,   K_LOGITS};
      6'd38:  step_row = {OP_CMPB,  W5, X_LO,     T_OV1,  D_NONE,   K_LOGITS};
      6'd39:  step_row = {OP_CMPB,  W5, X_ACT,    T_REG,  D_NONE,   K_LOGITS};
      6'd40:  step_row = {OP_LD,    W5, X_END,    T_NONE, D_NONE,   K_LOGITS};
      6'd41:  step_row = {OP_CMPB,  W5, X_HI,     T_OV2,  D_NONE,   K_LOGITS};
      // accumulator bound
      6'd42:  step_row = {OP_MUL,   W4, F_KER,    T_NONE, D_NONE,   K_NO};
      6'd43:  step_row = {OP_MUL,   W4, F_KER,    T_NONE, D_NONE,   K_NO};
      6'd44:  step_row = {OP_MUL,   W1, F_INC,    T_NONE, D_NONE,   K_NO};
      6'd45:  step_row = {OP_MUL,   W0, F_DW,     T_NONE, D_NONE,   K_NO};
      6'd46:  step_row = {OP_MUL,   W0, F_DA,     T_NONE, D_NONE,   K_NO};
      6'd47:  step_row = {OP_INC,   W0, X_0,      T_BIG,  D_NONE,   K_NO};
      // line-buffer words (fused pools)
      6'd48:  step_row = {OP_MUL,   W1, F_OG,     T_NONE, D_NONE,   K_NOPOOL};
      6'd49:  step_row = {OP_MUL,   W3, F_OUTWB,  T_NONE, D_NONE,   K_NOTMAX};
      6'd50:  step_row = {OP_CMPB,  W3, X_LINE,   T_REG,  D_NONE,   K_NOPOOL};
      // sum bound (fused sum-pool): codes up to act_min + levels ...
      6'd51:  step_row = {OP_LD,    W7, X_SEXT,   T_NONE, D_NONE,   K_NOTSUM};
      6'd52:  step_row = {OP_ADD,   W4, X_B3,     T_NONE, D_NONE,   K_NOTSUM};
      6'd53:  step_row = {OP_CLAMP, W3, X_0,      T_NONE, D_NONE,   K_NOTSUM};
      6'd54:  step_row = {OP_MUL,   W3, F_OUTH,   T_NONE, D_NONE,   K_NOTSUM};
      6'd55:  step_row = {OP_MUL,   W3, F_OUTW,   T_NONE, D_NONE,   K_NOTSUM};
      6'd56:  step_row = {OP_MUL,   W0, F_POW,    T_NONE, D_NONE,   K_NOTSUM};
      6'd57:  step_row = {OP_ADD,   W0, X_0,      T_BIG,  D_NONE,   K_NOTSUM};
      // ... and down to act_min (P = 1 after a test: 1 - act_min - 1)
      6'd58:  step_row = {OP_SBC,   W7, X_SEXT,   T_NONE, D_NONE,   K_NOTSUM};
      6'd59:  step_row = {OP_CLAMP, W3, X_0,      T_NONE, D_NONE,   K_NOTSUM};
      6'd60:  step_row = {OP_MUL,   W3, F_OUTH,   T_NONE, D_NONE,   K_NOTSUM};
      6'd61:  step_row = {OP_MUL,   W3, F_OUTW,   T_NONE, D_NONE,   K_NOTSUM};
      6'd62:  step_row = {OP_MUL,   W0, F_POW,    T_NONE, D_NONE,   K_NOTSUM};
      default:step_row = {OP_ADD,   W0, X_0,      T_BIG,  D_NONE,   K_NOTSUM};
    endcase
  endfunction
  // The table as a constant vector indexed by the step: a case on m_q would become a ROM (a block
  // RAM, none left on the UP5K, or LUTs behind a duplicate of the step register).
  // Rows padded to 32 bits, so that the index is a shift.
  wire [32*STEPS-1:0] table_bits;
  genvar gi;
  generate
    for (gi = 0; gi < STEPS; gi = gi + 1) begin : g_table
      assign table_bits[gi*32 +: 32] = {{(32-STEP_W){1'b0}}, step_row(gi[5:0])};
    end
  endgenerate
  wire [STEP_W-1:0] step = table_bits[{m_q, 5'd0} +: STEP_W];
  wire [3:0] s_op;
  wire [2:0] s_word, s_test, s_skip;
  wire [4:0] s_sel;
  wire [3:0] s_dst;
  assign {s_op, s_word, s_sel, s_test, s_dst, s_skip} = step;
  wire s_mul = s_op == OP_MUL || s_op == OP_MULK || s_op == OP_NMUL;
  wire s_neg = s_op == OP_NMUL;
  reg  skip;
  always @(*) begin
    case (s_skip)
      K_LOGITS: skip = logits_q;
      K_LOGSUM: skip = logits_q || fuse_sum;
      K_NOTSUM: skip = !fuse_sum;
      K_NOTMAX: skip = !fuse_max;
      K_NOPOOL: skip = pool_q == POOL_NONE;
      default:  skip = 1'b0;
    endcase
  end

  // Factor F: bits hi down to lo of the word, the bits below mid only rounding the quotient up
  // (F = ceil(field[hi:lo] / 2^(mid-lo))); or ones(cnt) = 2^cnt - 1; or 2^hi (FIRST: one bit).
  localparam [1:0] FM_FIELD = 2'd0, FM_ONES = 2'd1, FM_FIRST = 2'd2;
  localparam [4:0] ACC5 = ACC_W[4:0];
  // Top bits of the fields as the fetch has bounded them (fewer cycles): dimensions below 2^DIM_W,
  // in_c at most CNT_MAX * LANES, out_c at most CNT_MAX * ROWS.
  localparam integer IC_TOP = CNT_W + LOGL - 1, OC_TOP = CNT_W + LOGR - 1;
  localparam [31:0] DIM_TOP_32 = DIM_W - 1, IC_TOP_32 = IC_TOP < 15 ? IC_TOP : 15,
                    OC_TOP_32 = OC_TOP < 15 ? OC_TOP : 15;
  localparam [4:0] DIM_HI = DIM_TOP_32[4:0], IC_HI = IC_TOP_32[4:0], OC_HI = OC_TOP_32[4:0];
  localparam [4:0] L5 = LOGL[4:0], R5 = LOGR[4:0], C5 = LOGC[4:0], N5 = LOGN[4:0], P5 = LOGP[4:0];
  reg [4:0] f_hi, f_mid, f_lo;
  reg [1:0] f_mode;
  reg [3:0] f_cnt;
  always @(*) begin
    {f_hi, f_mid, f_lo, f_mode, f_cnt} = {5'd15, 5'd0, 5'd0, FM_FIELD, 4'd0};
    case (s_sel)
      F_CHUNKS: {f_hi, f_mid, f_lo} = {IC_HI, L5, 5'd0};
      F_APL:    {f_hi, f_mid, f_lo} = {5'd7, 5'd4, 5'd4};
      F_PADQ:   {f_hi, f_mid, f_lo} = {5'd15, 5'd8 + C5, 5'd8};
      F_INWB:   {f_hi, f_mid, f_lo} = {5'd16 + DIM_HI, 5'd16 + C5, 5'd16};
      F_PADR:   {f_hi, f_mid, f_lo} = {5'd15, int8_q ? 5'd8 + P5 : 5'd8, 5'd8};
      F_INROWS: {f_hi, f_mid, f_lo} = {DIM_HI, int8_q ? P5 : 5'd0, 5'd0};
      F_OG:     {f_hi, f_mid, f_lo} = {5'd16 + OC_HI, 5'd16 + R5, 5'd16};
      F_WPL:    {f_hi, f_mid, f_lo} = {5'd11, 5'd8, 5'd8};
      F_KER:    {f_hi, f_mid, f_lo} = {5'd7, 5'd0, 5'd0};
      F_THRW:   if (logits_q) {f_hi, f_mode} = {5'd0, FM_FIRST};  // logits: 1
                else {f_hi, f_mid, f_lo} = {5'd31, 5'd24 + N5, 5'd24};
      F_ROWS:   {f_hi, f_mode} = {R5, FM_FIRST};
      F_POOLH:  {f_hi, f_mid, f_lo} = {DIM_HI, fuse_max ? {5'd1, 5'd1} : {5'd0, 5'd0}};
      F_POOLWB: {f_hi, f_mid, f_lo} = {5'd16 + DIM_HI, fuse_max ? {5'd17 + C5, 5'd17} : {5'd16 + C5, 5'd16}};
      F_OCH:    {f_hi, f_mid, f_lo} = {5'd16 + OC_HI, 5'd16 + L5, 5'd16};
      F_OPL:    {f_hi, f_mid, f_lo} = {5'd15, 5'd12, 5'd12};
      F_INC:    {f_hi, f_mid, f_lo} = {IC_HI, 5'd0, 5'd0};
      F_DW:     {f_hi, f_mode, f_cnt} = {5'd7, int8_q ? FM_FIRST : FM_ONES, wpl_q};  // int8: 128
      F_DA:     {f_hi, f_mode, f_cnt} = {5'd7, FM_ONES, int8_q ? 4'd8 : apl_q};     // int8: 255
      F_OUTWB:  {f_hi, f_mid, f_lo} = {5'd16 + DIM_HI, 5'd16 + C5, 5'd16};
      F_OUTH:   {f_hi, f_mid, f_lo} = {DIM_HI, 5'd0, 5'd0};
      F_OUTW:   {f_hi, f_mid, f_lo} = {5'd16 + DIM_HI, 5'd16, 5'd16};
      F_POW:    {f_hi, f_mode} = {ACC5 - {1'b0, opl_q}, FM_FIRST};  // 2^(ACC_W - out_planes)
      default: ;  // coverage: unreachable, the check steps select only the field codes above
    endcase
  end

  reg  [4:0] n_q, n_d;        // bit of F
  reg        sticky_q, sticky_d;
  reg  [ALU_W-1:0] p_q, p_d, a_q, a_d;
  reg        sat_q, sat_d;     // P (and so every product of it) is beyond 2^ALU_W - 1
  reg        ov_q, ov_d;       // overlap: in_base < out_end
  reg  [AW:0] e_q, e_d;        // in_end = in_base + input words
  reg  f_bit;
  wire quot_bit = n_q >= f_mid;  // a bit of the quotient (else: below it, rounds up)
  always @(*) begin
    case (f_mode)
      FM_ONES:  f_bit = n_q < {1'b0, f_cnt};
      FM_FIRST: f_bit = n_q == f_hi;
      default:  f_bit = d[n_q];
    endcase
  end

  localparam [31:0] ACT_32 = ACT_BANK_DEPTH, WGT_32 = WGT_DEPTH, THR_32 = THR_DEPTH,
                    LINE_32 = LINE_DEPTH;
  reg [ALU_W-1:0] x;
  always @(*) begin
    x = {ALU_W{1'b0}};
    case (s_mul ? X_0 : s_sel)  // zero in products, whose operand is A
      X_LO:   x[15:0] = dlo;
      X_HI:   x[15:0] = dhi;
      X_B0:   x[7:0] = d[7:0];
      X_B1:   x[7:0] = d[15:8];
      X_B3:   x[7:0] = d[31:24];
      X_SEXT: x = {{(ALU_W-16){dlo[15]}}, dlo};
      X_END:  x[AW:0] = e_q;
      X_ACT:  x = ACT_32[ALU_W-1:0];
      X_WGT:  x = WGT_32[ALU_W-1:0];
      X_THR:  x = THR_32[ALU_W-1:0];
      X_LINE: x = LINE_32[ALU_W-1:0];
      default: ;
    endcase
  end

  // The adder: {carry, sum} = op1 + op2 + cin, op1 = 0, P or 2P, op2 = X or A (gated), inverted
  // for subtraction.
  reg zero1, dbl, use_a, gate, inv, cin, p_we, sat_clr, sat_upd;
  always @(*) begin
    {zero1, dbl, use_a, gate, inv, cin, p_we, sat_clr, sat_upd} = 9'd0;
    if (state_q == S_CHECK && !skip) begin
      if (ph_q == 2'd0) begin
        if (s_mul) {zero1, p_we} = 2'b11;  // P = 0 (X is 0 in products); A = P if chained
      end else if (ph_q == 2'd1) begin
        if (s_mul) begin
          if (quot_bit) {dbl, use_a, gate, inv, cin, p_we, sat_upd} = {2'b11, f_bit, s_neg, s_neg, 1'b1, !s_neg};
        end else begin
          case (s_op)
            OP_LD:    {zero1, p_we, sat_clr} = 3'b111;
            OP_ADD:   {p_we, sat_upd} = 2'b11;
            OP_SUB:   {inv, cin, p_we} = 3'b111;
            OP_SBC:   {inv, p_we} = 2'b11;
            OP_CMP:   {inv, cin} = 2'b11;
            OP_CMPB:  inv = 1'b1;
            OP_INC:   cin = 1'b1;
            OP_CLAMP: {zero1, p_we, sat_clr} = {p_q[ALU_W-1], 2'b11};
            default: ;
          endcase
        end
      end else begin  // a product's rounding: + A if a bit below the quotient was set
        {use_a, gate, inv, cin, p_we, sat_upd} = {1'b1, sticky_q, s_neg, s_neg, 1'b1, !s_neg};
      end
    end
  end
  wire [ALU_W-1:0] op1 = zero1 ? {ALU_W{1'b0}} : (dbl ? {p_q[ALU_W-2:0], 1'b0} : p_q);
  wire [ALU_W-1:0] op2 = (use_a && gate ? a_q : x) ^ {ALU_W{inv}};
  wire [ALU_W:0]   sum = {1'b0, op1} + {1'b0, op2} + {{ALU_W{1'b0}}, cin};
  wire             carry = sum[ALU_W];
  wire             ovf = carry || (dbl && p_q[ALU_W-1]);
  wire             p_one = state_q == S_CHECK && ph_q == 2'd1 && !s_mul && !skip && s_test != T_NONE &&
                     s_test != T_OV1;

  reg t_err;
  reg [2:0] t_code;
  always @(*) begin
    case (s_test)
      T_REG:  {t_err, t_code} = {carry || sat_q, E_REGION};
      T_BIG:  {t_err, t_code} = {sum[ALU_W:ACC_W-1] != 0 || sat_q, E_ACC};  // >= 2^(ACC_W-1)
      T_PAD:  {t_err, t_code} = {carry, E_SHAPE};
      T_NZ:   {t_err, t_code} = {sum[ALU_W-1:0] != {ALU_W{1'b0}}, E_SHAPE};
      T_OV2:  {t_err, t_code} = {ov_q && carry, E_OVERLAP};
      T_FLAG: {t_err, t_code} = {op_bad_q || shape_bad_q, op_bad_q ? E_OPCODE : E_SHAPE};
      default: {t_err, t_code} = {1'b0, E_NONE};
    endcase
  end

  // Results the datapath needs.
  reg [CNT_W-1:0] chunks_q, chunks_d, og_q, og_d;
  reg [8:0]       thrw_q, thrw_d;
  reg [AW-1:0]    pix_q, pix_d, row_q, row_d, row_off_q, row_off_d, col_off_q, col_off_d;

  // ---- Checker, runner, argmax, cycle counts ---------------------------------------------------
  reg          busy_q, busy_d, done_q, done_d, error_q, error_d;
  reg  [2:0]   ecode_q, ecode_d;
  reg  [31:0]  cycles_q, cycles_d;
  reg  [LW:0]  ai_q, ai_d;               // argmax: next logit address to read
  reg          a_valid_q, a_valid_d;     // the logit read last cycle arrives now
  reg  [LW-1:0] a_idx_q, a_idx_d, class_q, class_d;
  reg  signed [31:0] best_q, best_d;
  reg          cyc_we;
  wire [SAW:0] run_pc;                   // the running descriptor (pc_q without CHECK_AHEAD)
  wire         run_logits;
  wire [LW:0]  run_classes;
  wire         pc_last  = pc_q + 1'b1 == program_len_i[SAW:0];
  wire         run_last = run_pc + 1'b1 == program_len_i[SAW:0];
  wire [31:0]  len32 = {16'd0, program_len_i};  // 0, or above 2^SAW descriptors
  wire         len_bad = program_len_i == 16'd0 || len32[31:SAW+1] != 0 || (len32[SAW] && len32[SAW-1:0] != 0);
  // The runner can take a descriptor: idle, or in the last cycle of a layer (launching there
  // costs no cycle between layers).
  wire         run_free = run_q == R_IDLE || run_q == R_DONE;

  reg step_done, dst_we, checked, launch, fail;
  always @(*) begin
    state_d = state_q;
    {run_d, rw_d} = {run_q, rw_q};
    {pc_d, f_d, m_d, ph_d, n_d, sticky_d, ov_d} = {pc_q, f_q, m_q, ph_q, n_q, sticky_q, ov_q};
    // A step that tests leaves P = 1, where the next product chain starts.
    p_d = p_we || p_one ? (p_one ? {{(ALU_W-1){1'b0}}, 1'b1} : sum[ALU_W-1:0]) : p_q;
    sat_d = sat_clr || p_one ? 1'b0 : (sat_q || (p_we && sat_upd && ovf));
    a_d = a_q;
    {chunks_d, og_d, thrw_d, e_d} = {chunks_q, og_q, thrw_q, e_q};
    {pix_d, row_d, row_off_d, col_off_d} = {pix_q, row_q, row_off_q, col_off_q};
    {busy_d, done_d, error_d, ecode_d} = {busy_q, done_q, error_q, ecode_q};
    cycles_d = cycles_q + {31'd0, busy_q};
    {ai_d, a_valid_d, a_idx_d, class_d, best_d} = {ai_q, 1'b0, a_idx_q, class_q, best_q};
    {cyc_we, step_done, dst_we, checked, launch, fail} = 6'b000000;
    // Checker.
    case (state_q)
      S_IDLE: if (start_i) begin
        {done_d, error_d, ecode_d} = {1'b0, 1'b0, E_NONE};
        {pc_d, cycles_d} = {{(SAW+1){1'b0}}, 32'd0};
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
        if (f_q == 4'd8) {state_d, m_d, ph_d} = {S_CHECK, 6'd0, 2'd0};
      end
      S_CHECK: begin
        if (skip) begin
          step_done = 1'b1;
        end else if (ph_q == 2'd0) begin
          ph_d = 2'd1;
          if (s_mul) begin
            {n_d, sticky_d} = {f_hi, 1'b0};
            if (s_op != OP_MULK) a_d = p_q;
          end
        end else if (ph_q == 2'd1 && s_mul) begin
          if (!quot_bit) sticky_d = sticky_q || f_bit;
          if (n_q == f_lo) ph_d = 2'd2;
          else n_d = n_q - 1'b1;
        end else begin
          {step_done, dst_we} = {!t_err, 1'b1};
          if (s_test == T_OV1) ov_d = carry;
          // A failure waits for a running layer to end; the step (so t_code) stays as it is.
          fail = t_err;
        end
        if (step_done) begin
          {m_d, ph_d} = {m_q + 1'b1, 2'd0};
          if (m_q == M_LAST) checked = 1'b1;
        end
        if (dst_we) begin
          case (s_dst)
            D_CHUNKS: chunks_d  = sum[CNT_W-1:0];
            D_PIX:    pix_d     = sum[AW-1:0];
            D_COLOFF: col_off_d = sum[AW-1:0];
            D_ROW:    row_d     = sum[AW-1:0];
            D_ROWOFF: row_off_d = sum[AW-1:0];
            D_END:    e_d       = sum[AW:0];
            D_OG:     og_d      = sum[CNT_W-1:0];
            D_THRW:   thrw_d    = sum[8:0];
            default: ;
          endcase
        end
      end
      S_READY: checked = 1'b1;
      S_FAIL:  fail = 1'b1;
      default: ;  // S_HOLD: the runner's R_DONE moves on
    endcase
    if (checked) state_d = S_READY;

    // Runner.
    case (run_q)
      R_LAUNCH: {run_d, rw_d} = {R_WAIT, 1'b0};  // core_start_o is high in this state
      R_WAIT: if (!rw_q) begin
        rw_d = 1'b1;  // one cycle for the started unit to raise its busy flag
      end else if (!core_busy_i) begin
        if (run_logits) begin
          run_d = R_ARGMAX;
          {ai_d, a_idx_d, class_d} = {{(LW+1){1'b0}}, {LW{1'b0}}, {LW{1'b0}}};
        end else begin
          run_d = R_DONE;
        end
      end
      R_ARGMAX: begin  // address ai_q goes out; the word of a_idx_q (read last cycle) arrives
        if (ai_q != run_classes) begin  // ai_q runs from 0 up to the class count
          ai_d = ai_q + 1'b1;
          a_valid_d = 1'b1;
          a_idx_d = ai_q[LW-1:0];
        end
        if (a_valid_q && (a_idx_q == {LW{1'b0}} || $signed(logit_rd_data_i) > best_q)) begin
          best_d = $signed(logit_rd_data_i);
          class_d = a_idx_q;
        end
        if (ai_q == run_classes && !a_valid_q) run_d = R_DONE;
      end
      R_DONE: begin
        // The descriptor's last cycle, numbered from 0 at the run's first: its share of the run
        // runs from the end of the previous one (or the start) to here, argmax included, and
        // the last descriptor's word is CYCLES - 1.
        cyc_we = 1'b1;
        run_d = R_IDLE;
        if (run_last) begin
          {busy_d, done_d, state_d} = {1'b0, 1'b1, S_IDLE};
        end else if (state_q == S_HOLD) begin
          {pc_d, f_d, state_d} = {pc_q + 1'b1, 4'd0, S_FETCH};
        end
      end
      default: ;  // R_IDLE
    endcase

    // Launch a checked descriptor, or raise a failed check's error, once the runner is free.
    if (checked && run_free) begin
      {launch, run_d} = {1'b1, R_LAUNCH};
      if (CHECK_AHEAD != 0 && !pc_last) {pc_d, f_d, state_d} = {pc_q + 1'b1, 4'd0, S_FETCH};
      else state_d = S_HOLD;
    end
    if (fail) begin
      if (run_free) {error_d, ecode_d, state_d, run_d} = {1'b1, t_code, S_IDLE, R_IDLE};
      else state_d = S_FAIL;
    end
    if (error_d && !error_q) busy_d = 1'b0;
  end

  // The running descriptor's fields, as the datapath reads them while its layer runs.
  localparam integer CFG_W = 4 * DIM_W + 6 * AW + 2 * 8 + 2 * CNT_W + 3 * 4 + 2 + CODE_W + 8 + 9 +
                             TAW + WAW + 4 + LW + 1;
  wire [CFG_W-1:0] chk_cfg = {in_h_q, in_w_q, out_h_q, out_w_q, pix_q, row_q, row_off_q, col_off_q,
                              in_base_q, out_base_q, kernel_q, pad_q, chunks_q, og_q, wpl_q, apl_q,
                              opl_q, tern_q, sgn_q, act_min_q, levels_q, thrw_q, thr_base_q, w_base_q,
                              logits_q, pool_q, int8_q, classes_q};
  wire [CFG_W-1:0] cfg;
  generate
    if (CHECK_AHEAD != 0) begin : g_ahead
      reg [CFG_W-1:0] run_cfg_q;
      reg [SAW:0]     run_pc_q;
      wire [CFG_W-1:0] run_cfg_d = launch ? chk_cfg : run_cfg_q;
      wire [SAW:0]     run_pc_d  = launch ? pc_q : run_pc_q;
      always @(posedge clk_i) {run_cfg_q, run_pc_q} <= {run_cfg_d, run_pc_d};
      assign cfg = run_cfg_q;
      assign run_pc = run_pc_q;
    end else begin : g_serial  // the checker waits: its registers hold still while a layer runs
      assign cfg = chk_cfg;
      assign run_pc = pc_q;
      wire unused_launch = launch;
    end
  endgenerate
  wire [DIM_W-1:0]  r_in_h, r_in_w, r_out_h, r_out_w;
  wire [AW-1:0]     r_pix, r_row, r_row_off, r_col_off, r_in_base, r_out_base;
  wire [7:0]        r_kernel, r_pad, r_levels;
  wire [CNT_W-1:0]  r_chunks, r_og;
  wire [3:0]        r_wpl, r_apl, r_opl;
  wire              r_tern, r_sgn, r_int8;
  wire [CODE_W-1:0] r_act_min;
  wire [8:0]        r_thrw;
  wire [TAW-1:0]    r_thr_base;
  wire [WAW-1:0]    r_w_base;
  wire [1:0]        r_pool;
  assign {r_in_h, r_in_w, r_out_h, r_out_w, r_pix, r_row, r_row_off, r_col_off, r_in_base,
          r_out_base, r_kernel, r_pad, r_chunks, r_og, r_wpl, r_apl, r_opl, r_tern, r_sgn,
          r_act_min, r_levels, r_thrw, r_thr_base, r_w_base, run_logits, r_pool, r_int8,
          run_classes} = cfg;

  always @(posedge clk_i) begin
    if (!rst_ni) begin
      {state_q, run_q} <= {S_IDLE, R_IDLE};
      {busy_q, done_q, error_q, ecode_q} <= {1'b0, 1'b0, 1'b0, E_NONE};
      {pc_q, cycles_q, class_q} <= {{(SAW+1){1'b0}}, 32'd0, {LW{1'b0}}};
      a_valid_q <= 1'b0;
    end else begin
      {state_q, run_q} <= {state_d, run_d};
      {busy_q, done_q, error_q, ecode_q} <= {busy_d, done_d, error_d, ecode_d};
      {pc_q, cycles_q, class_q} <= {pc_d, cycles_d, class_d};
      a_valid_q <= a_valid_d;
    end
    {f_q, m_q, ph_q, n_q, sticky_q, ov_q, rw_q} <= {f_d, m_d, ph_d, n_d, sticky_d, ov_d, rw_d};
    {p_q, sat_q, a_q} <= {p_d, sat_d, a_d};
    {chunks_q, og_q, thrw_q, e_q} <= {chunks_d, og_d, thrw_d, e_d};
    {pix_q, row_q, row_off_q, col_off_q} <= {pix_d, row_d, row_off_d, col_off_d};
    {apl_q, wpl_q, opl_q, tern_q, sgn_q, pool_q, int8_q, logits_q} <=
        {apl_d, wpl_d, opl_d, tern_d, sgn_d, pool_d, int8_d, logits_d};
    {in_h_q, in_w_q, out_h_q, out_w_q} <= {in_h_d, in_w_d, out_h_d, out_w_d};
    {kernel_q, pad_q, levels_q, act_min_q, classes_q} <= {kernel_d, pad_d, levels_d, act_min_d, classes_d};
    {in_base_q, out_base_q, w_base_q, thr_base_q} <= {in_base_d, out_base_d, w_base_d, thr_base_d};
    {op_bad_q, shape_bad_q} <= {op_bad_d, shape_bad_d};
    {ai_q, a_idx_q, best_q} <= {ai_d, a_idx_d, best_d};
  end

  // ---- Outputs ------------------------------------------------------------------------------
  wire [PAW-1:0] pc_word = {pc_q[SAW-1:0], 3'b000};
  wire [2:0]     word = state_q == S_CHECK ? s_word : f_q[2:0];
  assign prog_rd_en_o   = (state_q == S_FETCH && f_q < 4'd8) || state_q == S_CHECK;
  assign prog_rd_addr_o = pc_word | {{(PAW-3){1'b0}}, word};
  assign step_cyc_wr_en_o   = cyc_we;
  assign step_cyc_wr_addr_o = run_pc[SAW-1:0];
  // cycles_q, not cycles_d: the counter's adder feeding the memory too would keep its LUTs and
  // flip-flops from sharing logic cells (+32 cells on the UP5K).
  assign step_cyc_wr_data_o = cycles_q;
  assign logit_rd_addr_o    = ai_q[LW-1:0];

  assign busy_o = busy_q;
  assign done_o = done_q;
  assign error_o = error_q;
  assign error_code_o = ecode_q;
  assign error_pc_o = error_q ? pc_q : {(SAW+1){1'b0}};
  assign class_o = class_q;
  assign cycles_o = cycles_q;

  assign core_start_o = run_q == R_LAUNCH;
  assign cfg_in_h_o      = r_in_h;
  assign cfg_in_w_o      = r_in_w;
  assign cfg_out_h_o     = r_out_h;
  assign cfg_out_w_o     = r_out_w;
  assign cfg_pix_words_o = r_pix;
  assign cfg_row_words_o = r_row;
  assign cfg_row_off_o   = r_row_off;
  assign cfg_col_off_o   = r_col_off;
  assign cfg_kernel_o    = {{(CNT_W-8){1'b0}}, r_kernel};
  assign cfg_pad_o       = {{(CNT_W-8){1'b0}}, r_pad};
  assign cfg_chunks_o    = r_chunks;
  assign cfg_ogroups_o   = r_og;
  assign cfg_wplanes_o   = {{(CNT_W-4){1'b0}}, r_wpl};
  assign cfg_aplanes_o   = {{(CNT_W-4){1'b0}}, r_apl};
  assign cfg_out_planes_o  = r_opl;
  assign cfg_out_ternary_o = r_tern;
  assign cfg_out_signed_o  = r_sgn;
  assign cfg_act_min_o   = r_act_min;
  assign cfg_levels_o    = {1'b0, r_levels};
  assign cfg_thr_words_o = {{(CNT_W-9){1'b0}}, r_thrw};
  assign cfg_thr_base_o  = r_thr_base;
  assign cfg_in_base_o   = r_in_base;
  assign cfg_out_base_o  = r_out_base;
  assign cfg_w_base_o    = r_w_base;
  assign cfg_logits_o    = run_logits;
  assign cfg_pool_o      = r_pool;
  assign cfg_int8_o      = r_int8;
endmodule

`default_nettype wire
