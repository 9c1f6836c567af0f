// stqn_writeback: turns the accumulators of each conv group into activation codes
// (stqn_threshold, thresholds read from the threshold memory) and writes them straight into the
// activation banks as digit planes, with the pooling that follows the conv fused in
// (docs/architecture.md sections 4, 6.1 and 7).
//
// A group is ROWS output channels (one chunk's lanes slot*ROWS ..) of COLS pixels (pixel x in bank
// x mod COLS). Its codes are thresholded one per cycle, then its planes are written with slot
// write enables: one bank word per plane, the same address in every bank, only the group's
// slot (its ROWS lanes) enabled. Per group: 1 (accept) + ROWS * COLS * thr_words + 2 cycles,
// plus out_planes (or one line-buffer write) cycles.
//   cfg_pool_i = 0: no pooling.
//   cfg_pool_i = 1: 2 x 2 max-pool, stride 2, on codes (floor: an odd last row or column is
//     dropped). Pairs of horizontal neighbours are reduced as they arrive; even rows store the
//     pair maxima in the line buffer (word xg * ogroups + og), odd rows combine them with it and
//     write the pooled pixels. Maxima are taken on threshold counts (code - act_min, 8 bits),
//     which is the same as on codes since the code grows with the count.
//   cfg_pool_i = 2: global sum-pool: each channel's sum of codes over the map accumulates in the
//     line buffer (word og, 16 bits per channel, read-modify-write per group); the last group of
//     an output-channel group writes the sums as int:out_planes planes (1 x 1 output map).
// The line buffer also holds the logits (logits mode, word o), which the host and the
// controller's argmax read while the datapath is idle. Write addresses are incremental (the
// output region is written in its layout's order) and checked by the controller beforehand.
`default_nettype none

module stqn_writeback #(
  parameter integer LANES  = 16,
  parameter integer ROWS   = 2,
  parameter integer COLS   = 4,
  parameter integer ACC_W  = 24,
  parameter integer NTH    = 2,
  parameter integer AW     = 9,    // activation bank address bits
  parameter integer TAW    = 9,    // threshold memory address bits
  parameter integer DIM_W  = 11,
  parameter integer CNT_W  = 10,
  parameter integer CODE_W = 9,
  parameter integer LOGITS = 64,   // logits (a power of two, at most LINE_DEPTH)
  parameter integer LINE_DEPTH = 256  // line-buffer words (a power of two)
) (
  input  wire                       clk_i,
  input  wire                       rst_ni,
  input  wire                       start_i,         // a layer starts: rewind the write address
  // Layer descriptor (held while a layer runs).
  input  wire [DIM_W-1:0]           cfg_out_h_i,     // conv output height (before pooling)
  input  wire [DIM_W-1:0]           cfg_out_w_i,     // conv output width (pixels beyond are dropped)
  input  wire [CNT_W-1:0]           cfg_ogroups_i,   // ceil(out_channels / ROWS)
  input  wire [3:0]                 cfg_out_planes_i,// 1 .. 8 (sum-pool: 1 .. 15)
  input  wire                       cfg_out_ternary_i,
  input  wire                       cfg_out_signed_i,// int:K (MSB plane negative)
  input  wire [CODE_W-1:0]          cfg_act_min_i,
  input  wire [8:0]                 cfg_levels_i,    // thresholds per channel, 1 .. 255
  input  wire [CNT_W-1:0]           cfg_thr_words_i, // ceil(levels / NTH)
  input  wire [TAW-1:0]             cfg_thr_base_i,
  input  wire [AW-1:0]              cfg_out_base_i,
  input  wire [1:0]                 cfg_pool_i,      // 0 none, 1 max 2 x 2 / 2, 2 global sum
  // Logits mode (the last dense layer, run as a 1x1 conv on a 1x1 map): no codes are written;
  // logit[o] = S + bias[o] with the int32 bias in bits [31:0] of threshold word thr_base + o
  // (thr_words must be 1), kept in the line buffer, read back with one cycle of latency while
  // logit_rd_en_i (the datapath is idle).
  input  wire                       cfg_logits_i,
  input  wire                       logit_rd_en_i,
  input  wire [$clog2(LOGITS)-1:0]  logit_rd_addr_i,
  output wire [31:0]                logit_rd_data_o,
  // Groups from stqn_conv.
  input  wire                       in_valid_i,
  output wire                       in_ready_o,
  input  wire [ROWS*COLS*ACC_W-1:0] in_acc_i,
  input  wire [DIM_W-1:0]           in_y_i,
  input  wire [DIM_W-1:0]           in_xg_i,
  input  wire [CNT_W-1:0]           in_og_i,
  // Threshold memory read port (one-cycle latency).
  output wire                       thr_rd_en_o,
  output wire [TAW-1:0]             thr_rd_addr_o,
  input  wire [NTH*ACC_W-1:0]       thr_rd_data_i,
  // Writes into the activation banks: slot s (lanes s*ROWS .. s*ROWS+ROWS-1, the channels of
  // one group) of bank c takes the same lanes of word c of the data when
  // act_wr_en_o[c * (LANES/ROWS) + s]; the same address in every bank. A group only ever writes
  // its own slot, so one enable per slot (not per lane) keeps the banks in as few block RAMs as
  // whole words would on ECP5 and Xilinx, whose enables are per 9-bit byte.
  output wire [COLS*(LANES/ROWS)-1:0] act_wr_en_o,
  output wire [AW-1:0]              act_wr_addr_o,
  output wire [COLS*2*LANES-1:0]    act_wr_data_o,
  output wire                       busy_o
);
  localparam integer PES   = ROWS * COLS;
  localparam integer PW    = $clog2(PES) < 1 ? 1 : $clog2(PES);
  localparam integer SLOTS = LANES / ROWS;       // groups per chunk
  localparam integer CNTW  = $clog2(NTH + 1);
  localparam integer LOGC  = $clog2(COLS);
  localparam integer LOGR  = $clog2(ROWS);
  localparam integer LOGS  = $clog2(SLOTS);
  localparam integer HALF  = COLS / 2;           // pooled pixels per group
  localparam integer LOGH  = LOGC - 1;
  localparam integer LAW   = $clog2(LINE_DEPTH);
  localparam integer LOGL  = $clog2(LOGITS);
  localparam integer CNT8  = 8;                  // threshold count: 0 .. 255
  localparam integer SUM_W = 16;                 // sum-pool lanes (the controller bounds the sums)
  localparam integer VAL_W = SUM_W;              // a staged value: code, pair maximum or sum
  localparam integer LB_MAX_W = ROWS * HALF * CNT8;
  localparam integer LB_SUM_W = ROWS * SUM_W;
  localparam integer LB_W0 = LB_MAX_W > LB_SUM_W ? LB_MAX_W : LB_SUM_W;
  localparam integer LB_W  = LB_W0 > 32 ? LB_W0 : 32;  // a logit is 32 bits
  localparam [31:0]      P_LAST_32 = PES - 1;
  localparam [31:0]      SLOT_32   = SLOTS - 1;
  localparam [31:0]      COLS_32   = COLS - 1;
  localparam [PW-1:0]    P_LAST    = P_LAST_32[PW-1:0];
  localparam [CNT_W-1:0] SLOT_MASK = SLOT_32[CNT_W-1:0];
  localparam [PW-1:0]    COL_MASK  = COLS_32[PW-1:0];
  localparam [1:0]       POOL_MAX = 2'd1, POOL_SUM = 2'd2;

  generate
    if (LANES % ROWS != 0 || (1 << LOGS) != SLOTS || COLS < 2 || (1 << LOGC) != COLS ||
        PES < 2 || (1 << LOGR) != ROWS || (1 << LAW) != LINE_DEPTH || LOGITS > LINE_DEPTH ||
        (1 << LOGL) != LOGITS || CODE_W < CNT8 + 1) begin : g_bad_params
      $error("stqn_writeback: LANES / ROWS, COLS, LINE_DEPTH >= LOGITS must be powers of two, COLS >= 2");
    end
  endgenerate

  localparam [1:0] S_IDLE = 2'd0, S_THR = 2'd1, S_DRAIN = 2'd2, S_WRITE = 2'd3;
  reg [1:0]               state_q, state_d;
  reg [ROWS*COLS*ACC_W-1:0] acc_q, acc_d;
  reg [DIM_W-1:0]         y_q, y_d, xg_q, xg_d;
  reg [CNT_W-1:0]         og_q, og_d;
  reg [PW-1:0]            p_q, p_d;          // PE being thresholded
  reg [CNT_W-1:0]         j_q, j_d;          // threshold word of that PE's channel
  reg [1:0]               drain_q, drain_d;
  reg [3:0]               plane_q, plane_d;

  wire p_end = p_q == P_LAST;
  wire j_end = j_q == cfg_thr_words_i - 1'b1;
  wire [CNT_W-1:0] slot = og_q & SLOT_MASK;
  wire chunk_done = (slot == SLOT_MASK) || (og_q == cfg_ogroups_i - 1'b1);

  // ---- Pooling mode of this group --------------------------------------------------------------
  wire is_max = cfg_pool_i == POOL_MAX;
  wire is_sum = cfg_pool_i == POOL_SUM;
  wire [DIM_W-1:0] last_xg = (cfg_out_w_i - 1'b1) >> LOGC;
  wire [DIM_W-1:0] pool_w  = cfg_out_w_i >> 1;           // pooled width (floor)
  wire last_pixels = y_q == cfg_out_h_i - 1'b1 && xg_q == last_xg;
  // Writes output planes: every group unpooled, odd rows when max-pooling, the map's last pixel
  // group when summing. Otherwise a pooled group updates its line-buffer word.
  wire group_writes = cfg_pool_i == 2'd0 || (is_max && y_q[0]) || (is_sum && last_pixels);
  // Max-pool: the pooled word column of this group (two groups fill one) holds a pixel.
  wire [DIM_W+LOGC-1:0] col_first_x = {1'b0, xg_q[DIM_W-1:1], {LOGC{1'b0}}};
  wire col_valid = !is_max || col_first_x < {{LOGC{1'b0}}, pool_w};

  // ---- Threshold reads and the beat into stqn_threshold (one cycle later) --------------------
  // thr address = og_base + r * thr_words + j, og_base = thr_base + og * ROWS * thr_words.
  wire            issue = state_q == S_THR;
  reg [TAW-1:0]   og_base_q, og_base_d, row_base_q, row_base_d;
  reg [9:0]       left_q, left_d;  // thresholds of this channel from word j on
  wire [TAW+CNT_W-1:0] tw_ext = {{TAW{1'b0}}, cfg_thr_words_i};
  wire [TAW-1:0]  tw = tw_ext[TAW-1:0];
  wire [TAW-1:0]  rows_tw = tw << LOGR;
  wire [TAW+CNT_W-1:0] j_ext = {{TAW{1'b0}}, j_q};
  assign thr_rd_en_o   = issue;
  assign thr_rd_addr_o = row_base_q + j_ext[TAW-1:0];
  wire [CNTW-1:0] count = left_q >= NTH[9:0] ? NTH[CNTW-1:0] : left_q[CNTW-1:0];
  wire            row_end = (p_q & COL_MASK) == COL_MASK;

  reg             t_valid_q, t_first_q, t_last_q;
  reg [PW-1:0]    t_p_q;
  reg [CNTW-1:0]  t_count_q;

  always @(posedge clk_i) begin
    if (!rst_ni) t_valid_q <= 1'b0;
    else         t_valid_q <= issue;
    t_first_q <= j_q == {CNT_W{1'b0}};
    t_last_q  <= j_end;
    t_p_q     <= p_q;
    t_count_q <= count;
  end

  // The unit counts thresholds crossed (base 0); the code is act_min + count (below).
  wire signed [ACC_W-1:0] t_acc = acc_q[t_p_q*ACC_W +: ACC_W];
  wire                    th_valid;
  wire [CODE_W-1:0]       th_count;
  wire [PW-1:0]           th_p;
  wire                    unused_th_ready;
  stqn_threshold #(.ACC_W(ACC_W), .NTH(NTH), .CODE_W(CODE_W), .USER_W(PW)) u_threshold (
    .clk_i      (clk_i),
    .rst_ni     (rst_ni),
    .in_valid_i (t_valid_q),
    .in_ready_o (unused_th_ready),  // always ready: the output is always taken
    .in_acc_i   (t_acc),
    .in_thr_i   (thr_rd_data_i),
    .in_count_i (t_count_q),
    .in_base_i  ({CODE_W{1'b0}}),
    .in_first_i (t_first_q),
    .in_last_i  (t_last_q),
    .in_user_i  (t_p_q),
    .out_valid_o(th_valid),
    .out_ready_i(1'b1),
    .out_code_o (th_count),
    .out_user_o (th_p)
  );

  // ---- Line buffer: pair maxima of even rows, channel sums, or logits --------------------------
  reg  [LAW-1:0] lb_addr_q, lb_addr_d;  // this group's word
  wire           accept = state_q == S_IDLE && in_valid_i;
  wire           lb_rd_issue = accept && cfg_pool_i != 2'd0;
  wire [LB_W-1:0] lb_rd_data, lb_wr_data;
  wire           lb_wr_en;
  wire [LAW-1:0] lb_wr_addr;
  wire [LAW+LOGL-1:0] logit_rd_ext = {{LAW{1'b0}}, logit_rd_addr_i};
  stqn_ram_dp #(.WIDTH(LB_W), .DEPTH(LINE_DEPTH)) u_line (
    .clk_i    (clk_i),
    .wr_en_i  (lb_wr_en),
    .wr_addr_i(lb_wr_addr),
    .wr_data_i(lb_wr_data),
    .rd_en_i  (lb_rd_issue || logit_rd_en_i),
    .rd_addr_i(lb_rd_issue ? lb_addr_d : logit_rd_ext[LAW-1:0]),
    .rd_data_o(lb_rd_data)
  );
  assign logit_rd_data_o = lb_rd_data[31:0];

  // ---- Codes, pair maxima and sums, one per cycle ----------------------------------------------
  // The code of PE p = r * COLS + c (channel row r, pixel column c of the group).
  reg  [ROWS*COLS*VAL_W-1:0] val_q;     // staged values, entry r * COLS + column
  reg  [CNT8-1:0] pair_q;               // count of the even pixel of a horizontal pair
  wire [PW-1:0]   th_r = th_p >> LOGC;
  wire [PW-1:0]   th_c = th_p & COL_MASK;
  wire [PW-1:0]   th_pair = th_p >> 1;  // r * HALF + c / 2: the pair's line-buffer entry
  wire [PW-1:0]   th_j = th_c >> 1;
  wire [CNT8-1:0] cnt = th_count[CNT8-1:0];
  wire [CNT8-1:0] pair_max = cnt > pair_q ? cnt : pair_q;
  wire [CNT8-1:0] lb_pair = lb_rd_data[th_pair*CNT8 +: CNT8];
  wire [CNT8-1:0] quad_max = pair_max > lb_pair ? pair_max : lb_pair;
  // The code in VAL_W bits: act_min + count reaches 510 for descriptors the checks accept, beyond
  // CODE_W; the sum-pool adds the true value, the planes written keep their low bits.
  wire [VAL_W-1:0] code_ext = {{(VAL_W-CODE_W){cfg_act_min_i[CODE_W-1]}}, cfg_act_min_i} +
                              {{(VAL_W-CNT8){1'b0}}, is_max ? quad_max : cnt};
  // Sum-pool: channel r's running sum (the line buffer's, 0 at the map's first group), plus the
  // codes of the pixels inside the map.
  wire            first_pixels = y_q == {DIM_W{1'b0}} && xg_q == {DIM_W{1'b0}};
  wire [VAL_W-1:0] sum_prev = first_pixels ? {VAL_W{1'b0}} : lb_rd_data[th_r*SUM_W +: SUM_W];
  wire [VAL_W-1:0] sum_run  = val_q[th_r*COLS*VAL_W +: VAL_W];
  wire [DIM_W+LOGC-1:0] th_x = {xg_q, {LOGC{1'b0}}} | {{DIM_W{1'b0}}, th_c[LOGC-1:0]};
  wire            th_inside = th_x < {{LOGC{1'b0}}, cfg_out_w_i};
  wire [VAL_W-1:0] sum_next = (th_c == {PW{1'b0}} ? sum_prev : sum_run) +
                              (th_inside ? code_ext : {VAL_W{1'b0}});
  // Where the value goes and what it is.
  reg  [PW-1:0]   val_col;
  reg  [VAL_W-1:0] val_data;
  reg             val_we;
  always @(*) begin
    val_col  = th_c;
    val_data = code_ext;
    val_we   = th_valid;
    if (is_max) begin
      val_we = th_valid && th_c[0];  // the odd pixel closes a pair
      if (y_q[0]) val_col = (xg_q[0] ? HALF[PW-1:0] : {PW{1'b0}}) + th_j;  // its output bank
      else begin
        val_col  = th_j;
        val_data = {{(VAL_W-CNT8){1'b0}}, pair_max};
      end
    end else if (is_sum) begin
      val_col  = {PW{1'b0}};
      val_data = sum_next;
    end
  end
  wire [CNT8-1:0] pair_d = (th_valid && !th_c[0]) ? cnt : pair_q;
  always @(posedge clk_i) pair_q <= pair_d;
  genvar sr, sc;
  generate
    for (sr = 0; sr < ROWS; sr = sr + 1) begin : g_val_row
      for (sc = 0; sc < COLS; sc = sc + 1) begin : g_val_col
        wire hit = val_we && th_r == sr[PW-1:0] && val_col == sc[PW-1:0];
        wire [VAL_W-1:0] val_d = hit ? val_data : val_q[(sr*COLS+sc)*VAL_W +: VAL_W];
        always @(posedge clk_i) val_q[(sr*COLS+sc)*VAL_W +: VAL_W] <= val_d;
      end
    end
  endgenerate

  // Line-buffer words: pair maxima (entry r * HALF + j from staged value (r, j)) or sums.
  wire [LB_W-1:0] lb_max_word, lb_sum_word;
  genvar lr, lj;
  generate
    for (lr = 0; lr < ROWS; lr = lr + 1) begin : g_lb_row
      for (lj = 0; lj < HALF; lj = lj + 1) begin : g_lb_pair
        assign lb_max_word[(lr*HALF+lj)*CNT8 +: CNT8] = val_q[(lr*COLS+lj)*VAL_W +: CNT8];
      end
      assign lb_sum_word[lr*SUM_W +: SUM_W] = val_q[lr*COLS*VAL_W +: SUM_W];
    end
    if (LB_W > LB_MAX_W) begin : g_lb_max_pad
      assign lb_max_word[LB_W-1:LB_MAX_W] = {(LB_W-LB_MAX_W){1'b0}};
    end
    if (LB_W > LB_SUM_W) begin : g_lb_sum_pad
      assign lb_sum_word[LB_W-1:LB_SUM_W] = {(LB_W-LB_SUM_W){1'b0}};
    end
  endgenerate

  // Logits: column 0 of each group, row r is output o = og * ROWS + r.
  wire [PW-1:0] t_r = t_p_q >> LOGC;
  wire [CNT_W+PW+LAW-1:0] t_o_ext = ({{(PW+LAW){1'b0}}, og_q} << LOGR) | {{(CNT_W+LAW){1'b0}}, t_r};
  wire [31:0] t_acc32 = {{(32-ACC_W){t_acc[ACC_W-1]}}, t_acc};
  wire        logit_we = t_valid_q && cfg_logits_i && (t_p_q & COL_MASK) == {PW{1'b0}};
  wire [31:0] logit = t_acc32 + thr_rd_data_i[31:0];
  wire        writing = state_q == S_WRITE;
  wire        lb_update = writing && !group_writes && plane_q == 4'd0;
  assign lb_wr_en   = logit_we || lb_update;
  assign lb_wr_addr = cfg_logits_i ? t_o_ext[LAW-1:0] : lb_addr_q;
  assign lb_wr_data = cfg_logits_i ? {{(LB_W-32){1'b0}}, logit} : (is_sum ? lb_sum_word : lb_max_word);

  // ---- Plane writes of the group's values ----------------------------------------------------
  reg [AW-1:0] ptr_q, ptr_d;          // plane 0 of the group's chunk in the output region
  reg [AW-1:0] col_ptr_q, col_ptr_d;  // max-pool: the pooled word column's first chunk
  wire bank_writes = writing && group_writes;
  genvar c, i;
  generate
    for (c = 0; c < COLS; c = c + 1) begin : g_col
      // Unpooled: pixel xg * COLS + c. Max-pool: pooled pixel xg * HALF + (c mod HALF), in the
      // half of the banks of xg's parity. Sum-pool: the single output pixel, bank 0.
      localparam [31:0] PAIR = c % HALF;
      wire [DIM_W+LOGC-1:0] x = {xg_q, {LOGC{1'b0}}} + c;
      wire [DIM_W+LOGC-1:0] px = ({{LOGC{1'b0}}, xg_q} << LOGH) + PAIR[DIM_W+LOGC-1:0];
      wire in_half = xg_q[0] == (c >= HALF);
      wire bank_on = is_max ? in_half && px < {{LOGC{1'b0}}, pool_w}
                   : is_sum ? c == 0 : x < {{LOGC{1'b0}}, cfg_out_w_i};
      for (i = 0; i < SLOTS; i = i + 1) begin : g_slot
        assign act_wr_en_o[c*SLOTS+i] = bank_writes && bank_on && slot == i[CNT_W-1:0];
      end
      for (i = 0; i < LANES; i = i + 1) begin : g_lane
        // Lane i holds channel row i mod ROWS of slot i / ROWS.
        wire [VAL_W-1:0] v = val_q[((i % ROWS)*COLS+c)*VAL_W +: VAL_W];
        wire             bit_b = v[plane_q];
        wire             msb = plane_q == cfg_out_planes_i - 1'b1;
        // Ternary: the code is the digit. k-bit: digit = bit b, negative at the MSB of int:K.
        wire [1:0]       digit = cfg_out_ternary_i ? v[1:0] : {bit_b && cfg_out_signed_i && msb, bit_b};
        assign act_wr_data_o[(c*LANES+i)*2 +: 2] = digit;
      end
    end
  endgenerate
  assign act_wr_addr_o = ptr_q + {{(AW-4){1'b0}}, plane_q};

  // ---- Sequencer ------------------------------------------------------------------------------
  assign in_ready_o = state_q == S_IDLE;
  assign busy_o = state_q != S_IDLE;
  wire [AW-1:0] planes_ext = {{(AW-4){1'b0}}, cfg_out_planes_i};
  always @(*) begin
    state_d = state_q;
    {acc_d, y_d, xg_d, og_d} = {acc_q, y_q, xg_q, og_q};
    {p_d, j_d, drain_d, plane_d} = {p_q, j_q, drain_q, plane_q};
    {og_base_d, row_base_d, left_d} = {og_base_q, row_base_q, left_q};
    {ptr_d, col_ptr_d, lb_addr_d} = {ptr_q, col_ptr_q, lb_addr_q};
    if (start_i) {ptr_d, col_ptr_d} = {cfg_out_base_i, cfg_out_base_i};
    case (state_q)
      S_IDLE: if (in_valid_i) begin
        state_d = S_THR;
        {acc_d, y_d, xg_d, og_d} = {in_acc_i, in_y_i, in_xg_i, in_og_i};
        p_d = {PW{1'b0}};
        j_d = {CNT_W{1'b0}};
        og_base_d = in_og_i == {CNT_W{1'b0}} ? cfg_thr_base_i : og_base_q + rows_tw;
        row_base_d = og_base_d;
        left_d = {1'b0, cfg_levels_i};
        // Max-pool line-buffer word xg * ogroups + og counts from 0 in every row; sum-pool: og.
        if (is_sum) lb_addr_d = in_og_i[LAW-1:0];
        else lb_addr_d = (in_xg_i == {DIM_W{1'b0}} && in_og_i == {CNT_W{1'b0}}) ? {LAW{1'b0}}
                                                                               : lb_addr_q + 1'b1;
        // Max-pool output rows: the odd pixel group of a pair writes the same words as the even
        // one (the other half of the banks): rewind to the column's first chunk.
        if (is_max && in_y_i[0] && in_og_i == {CNT_W{1'b0}}) begin
          if (in_xg_i[0]) ptr_d = col_ptr_q;
          else            col_ptr_d = ptr_q;
        end
      end
      S_THR: begin
        j_d = j_end ? {CNT_W{1'b0}} : j_q + 1'b1;
        left_d = j_end ? {1'b0, cfg_levels_i} : left_q - NTH[9:0];
        if (j_end && row_end) row_base_d = row_base_q + tw;
        if (j_end) p_d = p_q + 1'b1;
        if (j_end && p_end) begin
          state_d = S_DRAIN;
          drain_d = 2'd2;
        end
      end
      S_DRAIN: begin  // the last codes are two cycles behind the last read
        drain_d = drain_q - 1'b1;
        if (drain_q == 2'd1) begin
          state_d = cfg_logits_i ? S_IDLE : S_WRITE;
          plane_d = 4'd0;
        end
      end
      default: begin  // S_WRITE: the planes, or the line-buffer word
        plane_d = plane_q + 1'b1;
        if (!group_writes || plane_q == cfg_out_planes_i - 1'b1) begin
          state_d = S_IDLE;
          if (group_writes && chunk_done && col_valid) ptr_d = ptr_q + planes_ext;
        end
      end
    endcase
  end

  always @(posedge clk_i) begin
    if (!rst_ni) state_q <= S_IDLE;
    else         state_q <= state_d;
    {acc_q, y_q, xg_q, og_q} <= {acc_d, y_d, xg_d, og_d};
    {p_q, j_q, drain_q, plane_q} <= {p_d, j_d, drain_d, plane_d};
    {og_base_q, row_base_q, left_q} <= {og_base_d, row_base_d, left_d};
    {ptr_q, col_ptr_q, lb_addr_q} <= {ptr_d, col_ptr_d, lb_addr_d};
  end

  wire unused_ok = &{1'b0, unused_th_ready, tw_ext[TAW+CNT_W-1:TAW], j_ext[TAW+CNT_W-1:TAW],
                     t_o_ext[CNT_W+PW+LAW-1:LAW], logit_rd_ext[LAW+LOGL-1:LAW],
                     th_count[CODE_W-1:CNT8]};
endmodule

`default_nettype wire
