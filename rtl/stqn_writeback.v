// stqn_writeback: turns the accumulators of each conv group into activation codes
// (stqn_threshold, thresholds read from the threshold memory) and writes them straight into the
// activation banks as digit planes, with the pooling that follows the conv fused in
// (docs/architecture.md sections 4, 6.1 and 7).
//
// A group is ROWS output channels (one chunk's lanes slot*ROWS ..) of COLS pixels (pixel x in bank
// x mod COLS). THR_UNITS threshold units take THR_UNITS pixels of one channel per cycle (they
// share the channel's threshold word, so the threshold memory delivers one word per cycle), then
// the group's planes are written with slot write enables: one bank word per plane, the same
// address in every bank, only the group's slot (its ROWS lanes) enabled.
// Two stages, so that groups overlap: the issue stage reads a group's thresholds, N = ROWS * COLS
// / THR_UNITS * thr_words cycles, and with each read takes the THR_UNITS accumulators it compares
// from the group register: a shift register that takes the group from the array (which keeps
// accumulating the next group meanwhile) and moves down by THR_UNITS accumulators after each
// read, so that a read always takes its first places (no multiplexer); the conv's position names
// the group until its last read (in_done_o). The write stage collects its codes (two cycles
// behind) and writes out_planes planes or one line-buffer word. The issue stage takes the next group in the cycle after its last read and
// starts reading when the write stage will be done with the previous group by the time the first
// code arrives. A group every N + 1 cycles when out_planes is 1 (N + out_planes otherwise).
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
  parameter integer LINE_DEPTH = 256, // line-buffer words (a power of two)
  parameter integer THR_UNITS = 1  // threshold units: a power of two dividing COLS
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
  // Groups from stqn_conv: the accumulators are taken into the group register, the position is
  // the conv's until in_done_o (the group's last read).
  input  wire                       in_valid_i,
  output wire                       in_ready_o,
  output wire                       in_done_o,
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
  localparam integer U     = THR_UNITS;
  localparam integer NB    = COLS / U;           // column blocks: reads per channel word
  localparam integer QN    = ROWS * NB;          // reads per group and threshold word
  localparam integer QW    = $clog2(QN) < 1 ? 1 : $clog2(QN);
  localparam integer LOGB  = $clog2(NB);
  localparam integer SLOTS = LANES / ROWS;       // groups per chunk
  localparam integer CNTW  = $clog2(NTH + 1);
  localparam integer LOGC  = $clog2(COLS);
  localparam integer LOGR  = $clog2(ROWS);
  localparam integer LOGS  = $clog2(SLOTS);
  localparam integer HALF  = COLS / 2;           // pooled pixels per group
  localparam integer PPB   = U > 1 ? U / 2 : 1;  // pair maxima per threshold beat (U = 1: every other)
  localparam integer LAW   = $clog2(LINE_DEPTH);
  localparam integer LOGL  = $clog2(LOGITS);
  localparam integer CNT8  = 8;                  // threshold count: 0 .. 255
  localparam integer SUM_W = 16;                 // sum-pool lanes (the controller bounds the sums)
  localparam integer VAL_W = SUM_W;              // a staged value: code, pair maximum or sum
  localparam integer LB_MAX_W = ROWS * HALF * CNT8;
  localparam integer LB_SUM_W = ROWS * SUM_W;
  localparam integer LB_W0 = LB_MAX_W > LB_SUM_W ? LB_MAX_W : LB_SUM_W;
  localparam integer LB_W  = LB_W0 > 32 ? LB_W0 : 32;  // a logit is 32 bits
  localparam [31:0]      Q_LAST_32 = QN - 1;
  localparam [31:0]      B_LAST_32 = NB - 1;
  localparam [31:0]      SLOT_32   = SLOTS - 1;
  localparam [QW-1:0]    Q_LAST    = Q_LAST_32[QW-1:0];
  localparam [QW-1:0]    B_MASK    = B_LAST_32[QW-1:0];
  localparam [CNT_W-1:0] SLOT_MASK = SLOT_32[CNT_W-1:0];
  localparam [1:0]       POOL_MAX = 2'd1, POOL_SUM = 2'd2;

  generate
    if (LANES % ROWS != 0 || (1 << LOGS) != SLOTS || COLS < 2 || (1 << LOGC) != COLS ||
        PES < 2 || (1 << LOGR) != ROWS || (1 << LAW) != LINE_DEPTH || LOGITS > LINE_DEPTH ||
        (1 << LOGL) != LOGITS || CODE_W < CNT8 + 1 || U < 1 || U > COLS || QN < 2 ||
        (1 << $clog2(U)) != U) begin : g_bad_params
      $error("stqn_writeback: LANES / ROWS, COLS, LINE_DEPTH >= LOGITS, THR_UNITS <= COLS must be powers of two, COLS >= 2, ROWS * COLS / THR_UNITS >= 2");
    end
  endgenerate

  // ---- Mode of the layer -----------------------------------------------------------------------
  wire is_max = cfg_pool_i == POOL_MAX;
  wire is_sum = cfg_pool_i == POOL_SUM;
  wire [DIM_W-1:0] last_x  = cfg_out_w_i - 1'b1;
  wire [DIM_W-1:0] last_xg = last_x >> LOGC;

  // ---- Issue stage: a group's accumulators, its threshold reads --------------------------------
  // thr address = og_base + r * thr_words + j, og_base = thr_base + og * ROWS * thr_words; read
  // q = r * NB + b covers pixels b * U .. b * U + U - 1 of channel row r. The address counts up,
  // back to the row's first word for each of its NB blocks; after a group's last read it is the
  // next output-channel group's og_base (groups arrive og by og).
  localparam [1:0] A_IDLE = 2'd0, A_WAIT = 2'd1, A_THR = 2'd2;
  reg [1:0]                 a_state_q, a_state_d;
  // The group's position: the conv's, which steps only on in_done_o (this group's last read), so
  // it stays the group's while its accumulators are read from the group register. The write stage takes it one cycle after the first read, so a group needs at
  // least two reads (QN >= 2, checked above).
  wire [DIM_W-1:0]          a_y = in_y_i, a_xg = in_xg_i;
  wire [CNT_W-1:0]          a_og = in_og_i;
  reg [QW-1:0]              q_q, q_d;
  reg [CNT_W-1:0]           j_q, j_d;          // threshold word of that read's channel
  reg [TAW-1:0]             addr_q, addr_d, row_base_q, row_base_d;
  wire            b_ok;                        // the write stage can take this group (below)
  wire            issue = a_state_q == A_THR || (a_state_q == A_WAIT && b_ok);
  wire            q_end = q_q == Q_LAST;
  wire [CNT_W-1:0] j_next = j_q + 1'b1;  // "x + 1 == n" shares the counter's adder
  wire            j_end = j_next == cfg_thr_words_i;
  assign thr_rd_en_o   = issue;
  assign thr_rd_addr_o = addr_q;
  // Thresholds in the read word: NTH, except in a channel's last word (thr_words =
  // ceil(levels / NTH), the controller's rule), which holds the rest.
  wire [8:0]      rest = cfg_levels_i % NTH[8:0];
  wire [CNTW-1:0] count = (j_end && rest != 9'd0) ? rest[CNTW-1:0] : NTH[CNTW-1:0];
  wire            row_end = (q_q & B_MASK) == B_MASK;

  // The group register: a group from the array (PE p at [p*ACC_W +: ACC_W]); the threshold units
  // take its first U places in the cycle after each read (with the thresholds), and then it moves
  // down by U accumulators if that read was the channel block's last word. The next group comes
  // in while idle: in the cycle after the last read (the units take the last places then).
  localparam integer UW = U * ACC_W;
  reg  [ROWS*COLS*ACC_W-1:0] g_acc_q;
  assign in_done_o  = issue && j_end && q_end;
  assign in_ready_o = a_state_q == A_IDLE;
  wire                  g_load = in_valid_i && in_ready_o;
  reg                   t_valid_q, t_last_q;  // the read of the last cycle, its last word (below)
  wire                  g_shift = t_valid_q && t_last_q;  // the units take the first places
  wire [ROWS*COLS*ACC_W-1:0] g_acc_d = g_load ? in_acc_i : (g_shift ? g_acc_q >> UW : g_acc_q);
  always @(posedge clk_i) g_acc_q <= g_acc_d;

  always @(*) begin
    a_state_d = a_state_q;
    {q_d, j_d, addr_d, row_base_d} = {q_q, j_q, addr_q, row_base_q};
    if (g_load) begin
      a_state_d = A_WAIT;
      q_d = {QW{1'b0}};
      j_d = {CNT_W{1'b0}};
      addr_d = in_og_i == {CNT_W{1'b0}} ? cfg_thr_base_i : addr_q;
      row_base_d = addr_d;
    end
    if (issue) begin
      a_state_d = A_THR;
      j_d = j_end ? {CNT_W{1'b0}} : j_next;
      addr_d = (j_end && !row_end) ? row_base_q : addr_q + 1'b1;
      if (j_end && row_end) row_base_d = addr_d;
      if (j_end) q_d = q_q + 1'b1;
      if (j_end && q_end) a_state_d = A_IDLE;
    end
  end

  always @(posedge clk_i) begin
    if (!rst_ni) a_state_q <= A_IDLE;
    else         a_state_q <= a_state_d;
    {q_q, j_q, addr_q, row_base_q} <= {q_d, j_d, addr_d, row_base_d};
  end

  // ---- The beat into the threshold units (one cycle after the read) ----------------------------
  reg             t_first_q, t_gfirst_q, t_glast_q;
  reg [QW-1:0]    t_q_q;
  reg [CNTW-1:0]  t_count_q;
  // Logits: the read's output o = og * ROWS + r, registered with the read (the conv's position
  // steps on the group's last read, before that read's beat is here).
  reg [LAW-1:0]   t_o_q;
  wire [QW-1:0]   q_r = q_q >> LOGB;
  wire [CNT_W+QW+LAW-1:0] o_ext = ({{(QW+LAW){1'b0}}, a_og} << LOGR) | {{(CNT_W+LAW){1'b0}}, q_r};
  always @(posedge clk_i) begin
    if (!rst_ni) t_valid_q <= 1'b0;
    else         t_valid_q <= issue;
    t_first_q  <= j_q == {CNT_W{1'b0}};
    t_last_q   <= j_end;
    t_gfirst_q <= a_state_q == A_WAIT;  // the group's first read
    t_glast_q  <= j_end && q_end;
    t_q_q      <= q_q;
    t_count_q  <= count;
    t_o_q      <= o_ext[LAW-1:0];
  end

  wire [UW-1:0] t_acc = g_acc_q[UW-1:0];  // PEs q * U .. q * U + U - 1 (the group register)

  // The units count thresholds crossed (base 0); the code is act_min + count (below).
  wire               th_valid, th_glast;
  wire [U*CODE_W-1:0] th_count;
  wire [QW-1:0]      th_q;
  wire               unused_th_ready;
  stqn_threshold #(.ACC_W(ACC_W), .NTH(NTH), .CODE_W(CODE_W), .USER_W(QW + 1),
                   .UNITS(U)) u_threshold (
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
    .in_user_i  ({t_glast_q, t_q_q}),
    .out_valid_o(th_valid),
    .out_ready_i(1'b1),
    .out_code_o (th_count),
    .out_user_o ({th_glast, th_q})
  );

  // ---- Write stage: the group whose codes arrive, its planes or line-buffer word -------------
  // It takes the issue stage's group at that group's first beat into the units (hand), two
  // cycles before the first codes; the issue stage only starts reading when the write stage
  // is then free (b_ok).
  localparam [1:0] B_IDLE = 2'd0, B_COLLECT = 2'd1, B_WRITE = 2'd2;
  reg [1:0]       b_state_q, b_state_d;
  // Of its position it keeps only what it asks: the slot, row and column parities, and whether
  // the group is the chunk's last, in the last row or column group (groups come no further than
  // last_xg), or the map's first; they are formed from the issue stage's position.
  localparam integer SW = LOGS > 0 ? LOGS : 1;
  reg [SW-1:0]    b_slot_q, b_slot_d;
  reg             b_y0_q, b_y0_d, b_xg0_q, b_xg0_d, b_chunk_end_q, b_chunk_end_d;
  reg             b_last_y_q, b_last_y_d, b_last_xg_q, b_last_xg_d, b_first_q, b_first_d;
  reg [3:0]       plane_q, plane_d;
  wire            hand = t_valid_q && t_gfirst_q;
  wire [CNT_W-1:0] a_slot = a_og & SLOT_MASK;
  wire chunk_done = b_chunk_end_q;
  wire last_col = b_last_xg_q;
  wire last_pixels = b_last_y_q && last_col;
  // Writes output planes: every group unpooled, odd rows when max-pooling, the map's last pixel
  // group when summing. Otherwise a pooled group updates its line-buffer word.
  wire group_writes = cfg_pool_i == 2'd0 || (is_max && b_y0_q) || (is_sum && last_pixels);
  // Max-pool: the pooled word column of this group (two groups fill one) holds a pixel: its first
  // one, pooled from pixels 0 and 1 of the even group, which an odd group always has.
  wire [COLS-1:0] col_in_map;  // the group's pixel columns inside the conv output
  wire col_valid = !is_max || b_xg0_q || col_in_map[1];
  wire writing = b_state_q == B_WRITE;
  wire [3:0] plane_next = plane_q + 1'b1;
  wire last_plane = plane_next == cfg_out_planes_i;
  wire write_last = !group_writes || last_plane;
  wire codes_done = th_valid && th_glast;  // the group's last codes arrive
  // Free by the end of the next cycle: then a read issued now hands over in that cycle.
  wire one_write = cfg_logits_i || !group_writes || cfg_out_planes_i == 4'd1;
  wire b_free_next = b_state_q == B_IDLE || (b_state_q == B_COLLECT && codes_done && one_write) ||
                     (writing && (!group_writes || {1'b0, plane_q} + 5'd2 >= {1'b0, cfg_out_planes_i}));

  // ---- Line buffer: pair maxima of even rows, channel sums, or logits --------------------------
  // The next group's word: max-pool xg * ogroups + og, counting from 0 in every row; sum-pool og.
  reg  [LAW-1:0] lb_addr_q, lb_addr_d;  // the write stage's group's word
  wire [LAW+CNT_W-1:0] a_og_ext = {{LAW{1'b0}}, a_og};
  wire [LAW-1:0] lb_next = is_sum ? a_og_ext[LAW-1:0]
                         : (a_xg == {DIM_W{1'b0}} && a_og == {CNT_W{1'b0}}) ? {LAW{1'b0}}
                                                                               : lb_addr_q + 1'b1;
  // A group that updates its word in the next cycle while the next group would read the same word
  // (one group per row or per map) waits a cycle: the RAM has no same-cycle bypass.
  wire lb_wr_next = b_state_q == B_COLLECT && codes_done && !cfg_logits_i && !group_writes;
  assign b_ok = b_free_next && !(lb_wr_next && cfg_pool_i != 2'd0 && lb_next == lb_addr_q);
  wire           lb_rd_issue = hand && cfg_pool_i != 2'd0;
  wire [LB_W-1:0] lb_rd_data, lb_wr_data;
  wire           lb_wr_en;
  wire [LAW-1:0] lb_wr_addr;
  wire [LAW+LOGL-1:0] logit_rd_ext = {{LAW{1'b0}}, logit_rd_addr_i};
  stqn_ram_dp #(.WIDTH(LB_W), .DEPTH(LINE_DEPTH)) u_line (
    .clk_i    (clk_i),
    .rst_ni   (rst_ni),
    .wr_en_i  (lb_wr_en),
    .wr_addr_i(lb_wr_addr),
    .wr_data_i(lb_wr_data),
    .rd_en_i  (lb_rd_issue || logit_rd_en_i),
    .rd_addr_i(lb_rd_issue ? lb_next : logit_rd_ext[LAW-1:0]),
    .rd_data_o(lb_rd_data)
  );
  assign logit_rd_data_o = lb_rd_data[31:0];

  // ---- Codes, pair maxima and sums: U per cycle ------------------------------------------------
  // Beat q of the units holds PEs r * COLS + b * U + u (r = q / NB, b = q mod NB, u < U).
  wire [ROWS*COLS*VAL_W-1:0] val;       // staged values, entry r * COLS + column
  wire [QW-1:0]   th_r = th_q >> LOGB;
  wire [QW-1:0]   th_b = th_q & B_MASK;
  // Max-pool: the beat's pairs are pp * PPB .. pp * PPB + PPB - 1 of the row (U = 1: the odd
  // pixel closes pair b / 2).
  wire [QW-1:0]   pp = U > 1 ? th_b : th_b >> 1;
  wire            pair_ok = U > 1 || th_b[0];
  wire            first_pixels = b_first_q;
  // The code in VAL_W bits: act_min + count reaches 510 for descriptors the checks accept, beyond
  // CODE_W; the sum-pool adds the true value, the planes written keep their low bits.
  wire [U*VAL_W-1:0] code_ext;   // unit u's code (max-pool: pooled code of pair u < PPB)
  wire [PPB*CNT8-1:0] pair_max;  // the beat's pair maxima (counts)
  wire [U*VAL_W-1:0] inside_code;
  // The even pixel of pair m: unit 2m, or (U = 1) the previous beat's count.
  wire [PPB*CNT8-1:0] evens;
  genvar u;
  generate
    if (U == 1) begin : g_pair_reg
      reg  [CNT8-1:0] pair_q;
      wire [CNT8-1:0] pair_d = (th_valid && !th_b[0]) ? th_count[CNT8-1:0] : pair_q;
      always @(posedge clk_i) pair_q <= pair_d;
      assign evens = pair_q;
    end else begin : g_pair_units
      for (u = 0; u < PPB; u = u + 1) begin : g_even
        assign evens[u*CNT8 +: CNT8] = th_count[2*u*CODE_W +: CNT8];
      end
    end
    for (u = 0; u < U; u = u + 1) begin : g_unit
      localparam integer ODD = U > 1 ? 2 * u + 1 : 0;  // pair u's odd pixel (u < PPB)
      wire [CNT8-1:0] cnt = th_count[u*CODE_W +: CNT8];
      wire [CNT8-1:0] sel;
      if (u < PPB) begin : g_pair
        wire [CNT8-1:0] a = evens[u*CNT8 +: CNT8];
        wire [CNT8-1:0] b = th_count[ODD*CODE_W +: CNT8];
        wire [CNT8-1:0] m = a > b ? a : b;
        wire [CNT8-1:0] lb = lb_rd_data[(th_r*HALF + pp*PPB + u)*CNT8 +: CNT8];
        assign pair_max[u*CNT8 +: CNT8] = m;
        assign sel = is_max ? (m > lb ? m : lb) : cnt;
      end else begin : g_plain
        assign sel = cnt;
      end
      // act_min + count in [-256, 510]: a CODE_W + 1-bit sum, sign-extended.
      wire [CODE_W:0] code = {cfg_act_min_i[CODE_W-1], cfg_act_min_i} +
                             {{(CODE_W+1-CNT8){1'b0}}, sel};
      assign code_ext[u*VAL_W +: VAL_W] = {{(VAL_W-CODE_W-1){code[CODE_W]}}, code};
      wire in_map = col_in_map[th_b*U + u];
      assign inside_code[u*VAL_W +: VAL_W] = in_map ? code_ext[u*VAL_W +: VAL_W] : {VAL_W{1'b0}};
      wire unused_code_hi = &{1'b0, th_count[u*CODE_W+CNT8 +: CODE_W-CNT8]};
    end
  endgenerate
  // Sum-pool: channel r's running sum (the line buffer's, 0 at the map's first group, at the
  // row's first beat), plus the codes of the pixels inside the map.
  wire [VAL_W-1:0] sum_prev = first_pixels ? {VAL_W{1'b0}} : lb_rd_data[th_r*SUM_W +: SUM_W];
  wire [VAL_W-1:0] sum_run  = val[th_r*COLS*VAL_W +: VAL_W];
  reg  [VAL_W-1:0] sum_next;
  integer k;
  always @(*) begin
    sum_next = th_b == {QW{1'b0}} ? sum_prev : sum_run;
    for (k = 0; k < U; k = k + 1) sum_next = sum_next + inside_code[k*VAL_W +: VAL_W];
  end

  // Entry (r, c) takes: unpooled, unit c mod U of block c / U; max-pool even rows, pair maximum
  // c of the row (c < HALF); odd rows, the pooled code of pair c mod HALF in the half of the
  // banks of xg's parity; sum-pool, the running sum (c = 0).
  genvar sr, sc;
  generate
    for (sr = 0; sr < ROWS; sr = sr + 1) begin : g_val_row
      for (sc = 0; sc < COLS; sc = sc + 1) begin : g_val_col
        localparam [31:0] BLK  = sc / U;
        localparam [31:0] PAIR = (sc % HALF) / PPB;  // beat pair index pp that produces it
        localparam integer M   = (sc % HALF) % PPB;
        localparam integer UI  = sc % U;
        wire row_hit = th_valid && th_r == sr[QW-1:0];
        wire in_half = b_y0_q ? (b_xg0_q == (sc >= HALF)) : (sc < HALF);
        reg hit;
        reg [VAL_W-1:0] data;
        always @(*) begin
          hit  = row_hit && th_b == BLK[QW-1:0];
          data = code_ext[UI*VAL_W +: VAL_W];
          if (is_max) begin
            hit  = row_hit && pair_ok && pp == PAIR[QW-1:0] && in_half;
            data = b_y0_q ? code_ext[M*VAL_W +: VAL_W]
                            : {{(VAL_W-CNT8){1'b0}}, pair_max[M*CNT8 +: CNT8]};
          end else if (is_sum) begin
            hit  = row_hit && sc == 0;
            data = sum_next;
          end
        end
        // Only the sum (column 0) needs VAL_W bits: codes are written as at most 8 planes
        // outside the sum-pool, pair maxima are CNT8-bit counts.
        localparam integer EW = sc == 0 ? VAL_W : CNT8;
        reg  [EW-1:0] val_q;
        wire [EW-1:0] val_d = hit ? data[EW-1:0] : val_q;
        always @(posedge clk_i) val_q <= val_d;
        if (EW < VAL_W) begin : g_narrow
          assign val[(sr*COLS+sc)*VAL_W +: VAL_W] = {{(VAL_W-EW){1'b0}}, val_q};
          wire unused_data = &{1'b0, data[VAL_W-1:EW]};
        end else begin : g_full
          assign val[(sr*COLS+sc)*VAL_W +: VAL_W] = val_q;
        end
      end
    end
  endgenerate

  // Line-buffer words: pair maxima (entry r * HALF + j from staged value (r, j)) or sums.
  wire [LB_W-1:0] lb_max_word, lb_sum_word;
  genvar lr, lj;
  generate
    for (lr = 0; lr < ROWS; lr = lr + 1) begin : g_lb_row
      for (lj = 0; lj < HALF; lj = lj + 1) begin : g_lb_pair
        assign lb_max_word[(lr*HALF+lj)*CNT8 +: CNT8] = val[(lr*COLS+lj)*VAL_W +: CNT8];
      end
      assign lb_sum_word[lr*SUM_W +: SUM_W] = val[lr*COLS*VAL_W +: SUM_W];
    end
    if (LB_W > LB_MAX_W) begin : g_lb_max_pad
      assign lb_max_word[LB_W-1:LB_MAX_W] = {(LB_W-LB_MAX_W){1'b0}};
    end
    if (LB_W > LB_SUM_W) begin : g_lb_sum_pad
      assign lb_sum_word[LB_W-1:LB_SUM_W] = {(LB_W-LB_SUM_W){1'b0}};
    end
  endgenerate

  // Logits: column 0 of each group (unit 0 of block 0), row r is output t_o_q.
  wire [31:0] t_acc32 = {{(32-ACC_W){t_acc[ACC_W-1]}}, t_acc[ACC_W-1:0]};
  wire        logit_we = t_valid_q && cfg_logits_i && (t_q_q & B_MASK) == {QW{1'b0}};
  wire [31:0] logit = t_acc32 + thr_rd_data_i[31:0];
  wire        lb_update = writing && !group_writes && plane_q == 4'd0;
  assign lb_wr_en   = logit_we || lb_update;
  assign lb_wr_addr = cfg_logits_i ? t_o_q : lb_addr_q;
  assign lb_wr_data = cfg_logits_i ? {{(LB_W-32){1'b0}}, logit} : (is_sum ? lb_sum_word : lb_max_word);

  // ---- Plane writes of the group's values ----------------------------------------------------
  reg [AW-1:0] ptr_q, ptr_d;          // plane 0 of the group's chunk in the output region
  reg [AW-1:0] col_ptr_q, col_ptr_d;  // max-pool: the pooled word column's first chunk
  wire bank_writes = writing && group_writes;
  genvar c, i;
  generate
    for (c = 0; c < COLS; c = c + 1) begin : g_col
      // Unpooled: pixel xg * COLS + c, inside the map unless xg is the last column group and c
      // beyond the last pixel. Max-pool: pooled pixel xg * HALF + j (j = c mod HALF), in the half
      // of the banks of xg's parity, pooled from pixels 2j and 2j + 1 of the group, inside the
      // pooled map (floor) if pixel 2j + 1 is inside the map. Sum-pool: the single output pixel,
      // bank 0.
      localparam integer ODD = 2 * (c % HALF) + 1;
      localparam [31:0] C_32 = c;
      wire in_half = b_xg0_q == (c >= HALF);
      if (c == 0) begin : g_first
        assign col_in_map[c] = 1'b1;  // a group has its first pixel
      end else begin : g_next
        assign col_in_map[c] = !last_col || C_32[LOGC-1:0] <= last_x[LOGC-1:0];
      end
      wire bank_on = is_max ? in_half && col_in_map[ODD]
                   : is_sum ? c == 0 : col_in_map[c];
      for (i = 0; i < SLOTS; i = i + 1) begin : g_slot
        assign act_wr_en_o[c*SLOTS+i] = bank_writes && bank_on && b_slot_q == i[SW-1:0];
      end
      for (i = 0; i < LANES; i = i + 1) begin : g_lane
        // Lane i holds channel row i mod ROWS of slot i / ROWS.
        wire [VAL_W-1:0] v = val[((i % ROWS)*COLS+c)*VAL_W +: VAL_W];
        wire             bit_b = v[plane_q];
        // Ternary: the code is the digit. k-bit: digit = bit b, negative at the MSB of int:K.
        wire [1:0]       digit = cfg_out_ternary_i ? v[1:0] : {bit_b && cfg_out_signed_i && last_plane, bit_b};
        assign act_wr_data_o[(c*LANES+i)*2 +: 2] = digit;
      end
    end
  endgenerate
  assign act_wr_addr_o = ptr_q + {{(AW-4){1'b0}}, plane_q};

  // ---- Write-stage sequencer ------------------------------------------------------------------
  assign busy_o = a_state_q != A_IDLE || t_valid_q || b_state_q != B_IDLE;
  wire [AW-1:0] planes_ext = {{(AW-4){1'b0}}, cfg_out_planes_i};
  always @(*) begin
    b_state_d = b_state_q;
    {b_slot_d, b_y0_d, b_xg0_d, b_chunk_end_d, plane_d} =
        {b_slot_q, b_y0_q, b_xg0_q, b_chunk_end_q, plane_q};
    {b_last_y_d, b_last_xg_d, b_first_d} = {b_last_y_q, b_last_xg_q, b_first_q};
    {ptr_d, col_ptr_d, lb_addr_d} = {ptr_q, col_ptr_q, lb_addr_q};
    if (start_i) {ptr_d, col_ptr_d} = {cfg_out_base_i, cfg_out_base_i};
    case (b_state_q)
      B_COLLECT: if (codes_done) begin  // logits were written on the way
        b_state_d = cfg_logits_i ? B_IDLE : B_WRITE;
        plane_d = 4'd0;
      end
      B_WRITE: begin  // the planes, or the line-buffer word
        plane_d = plane_next;
        if (write_last) begin
          b_state_d = B_IDLE;
          if (group_writes && chunk_done && col_valid) ptr_d = ptr_q + planes_ext;
        end
      end
      default: ;
    endcase
    // The next group, possibly in the cycle the previous one finishes (b_ok).
    if (hand) begin
      b_state_d = B_COLLECT;
      b_slot_d = a_slot[SW-1:0];
      {b_y0_d, b_xg0_d} = {a_y[0], a_xg[0]};
      b_chunk_end_d = a_slot == SLOT_MASK || a_og == cfg_ogroups_i - 1'b1;
      b_last_y_d = a_y == cfg_out_h_i - 1'b1;
      b_last_xg_d = a_xg == last_xg;
      b_first_d = a_y == {DIM_W{1'b0}} && a_xg == {DIM_W{1'b0}};
      lb_addr_d = lb_next;
      // Max-pool output rows: the odd pixel group of a pair writes the same words as the even
      // one (the other half of the banks): rewind to the column's first chunk.
      if (is_max && a_y[0] && a_og == {CNT_W{1'b0}}) begin
        if (a_xg[0]) ptr_d = col_ptr_q;
        else           col_ptr_d = ptr_d;
      end
    end
  end

  always @(posedge clk_i) begin
    if (!rst_ni) b_state_q <= B_IDLE;
    else         b_state_q <= b_state_d;
    {b_slot_q, b_y0_q, b_xg0_q, b_chunk_end_q, plane_q} <=
        {b_slot_d, b_y0_d, b_xg0_d, b_chunk_end_d, plane_d};
    {b_last_y_q, b_last_xg_q, b_first_q} <= {b_last_y_d, b_last_xg_d, b_first_d};
    {ptr_q, col_ptr_q, lb_addr_q} <= {ptr_d, col_ptr_d, lb_addr_d};
  end

`ifdef STQN_ASSERT
  // The hand-over never takes the write stage from a group it has not finished.
  wire b_finishing = b_state_q == B_IDLE || (b_state_q == B_COLLECT && codes_done && cfg_logits_i) ||
                     (writing && write_last);
  always @(posedge clk_i) begin
    if (rst_ni && hand && !b_finishing) $error("stqn_writeback: hand-over to a busy write stage");
    if (rst_ni && th_valid && b_state_q != B_COLLECT) $error("stqn_writeback: codes without a group");
  end
`endif

  wire unused_ok = &{1'b0, unused_th_ready, rest[8:CNTW],
                     o_ext[CNT_W+QW+LAW-1:LAW], logit_rd_ext[LAW+LOGL-1:LAW],
                     a_og_ext[LAW+CNT_W-1:LAW]};
endmodule

`default_nettype wire
