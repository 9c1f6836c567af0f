// stqn_writeback: turns the accumulators of each conv group into activation codes
// (stqn_threshold, thresholds read from the threshold memory) and writes them back as digit-plane
// words into the activation banks (docs/architecture.md sections 4, 6.1 and 7).
//
// Channels of one pixel are gathered LANES at a time: a group holds ROWS output channels of COLS
// pixels, and LANES / ROWS consecutive groups of the same pixel group fill one word per pixel and
// plane, written to the COLS banks at once (pixel x lives in bank x mod COLS). Per group it takes
// ROWS * COLS * thr_words + 2 cycles, plus out_planes cycles when a chunk completes.
// Addresses are incremental: words are written in exactly the layout's order (pixel group, chunk,
// plane), so the write address is a counter from out_base; thresholds are read per channel from
// a base that steps by ROWS * thr_words per group (ROWS must be a power of two).
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
  parameter integer LOGITS = 64   // logit registers (a power of two)
) (
  input  wire                       clk_i,
  input  wire                       rst_ni,
  input  wire                       start_i,         // a layer starts: rewind the write address
  // Layer descriptor (held while a layer runs).
  input  wire [DIM_W-1:0]           cfg_out_w_i,     // output width (pixels beyond are dropped)
  input  wire [CNT_W-1:0]           cfg_ogroups_i,   // ceil(out_channels / ROWS)
  input  wire [3:0]                 cfg_out_planes_i,// 1 .. 8
  input  wire                       cfg_out_ternary_i,
  input  wire                       cfg_out_signed_i,// int:K (MSB plane negative)
  input  wire [CODE_W-1:0]          cfg_act_min_i,
  input  wire [8:0]                 cfg_levels_i,    // thresholds per channel, 1 .. 255
  input  wire [CNT_W-1:0]           cfg_thr_words_i, // ceil(levels / NTH)
  input  wire [TAW-1:0]             cfg_thr_base_i,
  input  wire [AW-1:0]              cfg_out_base_i,
  // Logits mode (the last dense layer, run as a 1x1 conv on a 1x1 map): no codes are written;
  // logit[o] = S + bias[o] with the int32 bias in bits [31:0] of threshold word thr_base + o
  // (thr_words must be 1), kept in LOGITS registers that the host reads (one-cycle latency).
  input  wire                       cfg_logits_i,
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
  // Writes into the activation banks: bank c gets word act_wr_data_o[c] when act_wr_en_o[c].
  output wire [COLS-1:0]            act_wr_en_o,
  output wire [AW-1:0]              act_wr_addr_o,   // the same address in every bank
  output wire [COLS*2*LANES-1:0]    act_wr_data_o,
  output wire                       busy_o
);
  localparam integer PES   = ROWS * COLS;
  localparam integer PW    = $clog2(PES) < 1 ? 1 : $clog2(PES);
  localparam integer SLOTS = LANES / ROWS;       // groups per chunk
  localparam integer CNTW  = $clog2(NTH + 1);
  localparam integer LOGC  = $clog2(COLS);
  localparam integer LOGS  = $clog2(SLOTS);
  localparam [31:0]      P_LAST_32 = PES - 1;
  localparam [31:0]      SLOT_32   = SLOTS - 1;
  localparam [31:0]      COLS_32   = COLS - 1;
  localparam [PW-1:0]    P_LAST    = P_LAST_32[PW-1:0];
  localparam [CNT_W-1:0] SLOT_MASK = SLOT_32[CNT_W-1:0];
  localparam [PW-1:0]    COL_MASK  = COLS_32[PW-1:0];

  generate
    if (LANES % ROWS != 0 || (1 << LOGS) != SLOTS || COLS < 2 || (1 << LOGC) != COLS ||
        PES < 2 || (1 << $clog2(ROWS)) != ROWS) begin : g_bad_params
      $error("stqn_writeback: LANES / ROWS and COLS must be powers of two, COLS >= 2");
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

  // ---- Threshold reads and the beat into stqn_threshold (one cycle later) --------------------
  // thr address = og_base + r * thr_words + j, og_base = thr_base + og * ROWS * thr_words.
  wire            issue = state_q == S_THR;
  reg [TAW-1:0]   og_base_q, og_base_d, row_base_q, row_base_d;
  reg [9:0]       left_q, left_d;  // thresholds of this channel from word j on
  wire [TAW+CNT_W-1:0] tw_ext = {{TAW{1'b0}}, cfg_thr_words_i};
  wire [TAW-1:0]  tw = tw_ext[TAW-1:0];
  wire [TAW-1:0]  rows_tw = tw << $clog2(ROWS);
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

  wire signed [ACC_W-1:0] t_acc = acc_q[t_p_q*ACC_W +: ACC_W];
  wire                    th_valid;
  wire [CODE_W-1:0]       th_code;
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
    .in_base_i  (cfg_act_min_i),
    .in_first_i (t_first_q),
    .in_last_i  (t_last_q),
    .in_user_i  (t_p_q),
    .out_valid_o(th_valid),
    .out_ready_i(1'b1),
    .out_code_o (th_code),
    .out_user_o (th_p)
  );

  // ---- Logits: column 0 of each group, row r is output o = og * ROWS + r -------------------------
  localparam integer LOGL = $clog2(LOGITS);
  reg  [31:0] logits_q [0:LOGITS-1];
  wire [PW-1:0] t_r = t_p_q >> LOGC;
  wire [CNT_W+PW-1:0] t_o_ext = ({{PW{1'b0}}, og_q} << $clog2(ROWS)) | {{CNT_W{1'b0}}, t_r};
  wire [31:0] t_acc32 = {{(32-ACC_W){t_acc[ACC_W-1]}}, t_acc};
  wire        logit_we = t_valid_q && cfg_logits_i && (t_p_q & COL_MASK) == {PW{1'b0}};
  wire [31:0] bias = thr_rd_data_i[31:0];
  // Registered read (one cycle), so that the register file is a block RAM, not 2,048 flip-flops.
  reg  [31:0] logit_rd_q;
  always @(posedge clk_i) begin
    if (logit_we) logits_q[t_o_ext[LOGL-1:0]] <= t_acc32 + bias;
    logit_rd_q <= logits_q[logit_rd_addr_i];
  end
  assign logit_rd_data_o = logit_rd_q;

  // ---- Collector: codes of COLS pixels x LANES channels -----------------------------------------
  // The code of PE (r, c) of group slot s goes to pixel c, lane s * ROWS + r. Every slot has its
  // own decoded enable (no wide shifter).
  localparam integer LOGR = $clog2(ROWS);
  reg  [COLS*LANES*CODE_W-1:0] codes_q;
  wire [PW-1:0]   th_r = th_p >> LOGC;
  wire [PW-1:0]   th_c = th_p & COL_MASK;
  wire [CNT_W+PW-1:0] th_lane_ext = {{PW{1'b0}}, slot} << LOGR | {{CNT_W{1'b0}}, th_r};
  genvar sc, si;
  generate
    for (sc = 0; sc < COLS; sc = sc + 1) begin : g_store_col
      for (si = 0; si < LANES; si = si + 1) begin : g_store_lane
        wire hit = th_valid && th_c == sc[PW-1:0] && th_lane_ext == si[CNT_W+PW-1:0];
        always @(posedge clk_i) begin
          if (hit) codes_q[(sc*LANES+si)*CODE_W +: CODE_W] <= th_code;
        end
      end
    end
  endgenerate

  // ---- Write of one plane of the completed chunk -----------------------------------------------
  reg [AW-1:0] wr_ptr_q, wr_ptr_d;  // next word of the output region, in layout order
  wire writing = state_q == S_WRITE;
  genvar c, i;
  generate
    for (c = 0; c < COLS; c = c + 1) begin : g_col
      wire [DIM_W+LOGC-1:0] x = {xg_q, {LOGC{1'b0}}} + c;
      assign act_wr_en_o[c] = writing && x < {{LOGC{1'b0}}, cfg_out_w_i};
      for (i = 0; i < LANES; i = i + 1) begin : g_lane
        wire [CODE_W-1:0] code = codes_q[(c*LANES+i)*CODE_W +: CODE_W];
        wire              bit_b = code[plane_q];
        wire              msb = plane_q == cfg_out_planes_i - 1'b1;
        // Ternary: the code is the digit. k-bit: digit = bit b, negative at the MSB of int:K.
        wire [1:0]        digit = cfg_out_ternary_i ? code[1:0] :
                                  {bit_b && cfg_out_signed_i && msb, bit_b};
        assign act_wr_data_o[(c*LANES+i)*2 +: 2] = digit;
      end
    end
  endgenerate
  assign act_wr_addr_o = wr_ptr_q;

  // ---- Sequencer ------------------------------------------------------------------------------
  assign in_ready_o = state_q == S_IDLE;
  assign busy_o = state_q != S_IDLE;
  always @(*) begin
    state_d = state_q;
    {acc_d, y_d, xg_d, og_d} = {acc_q, y_q, xg_q, og_q};
    {p_d, j_d, drain_d, plane_d} = {p_q, j_q, drain_q, plane_q};
    {og_base_d, row_base_d, left_d, wr_ptr_d} = {og_base_q, row_base_q, left_q, wr_ptr_q};
    if (start_i) wr_ptr_d = cfg_out_base_i;
    case (state_q)
      S_IDLE: if (in_valid_i) begin
        state_d = S_THR;
        {acc_d, y_d, xg_d, og_d} = {in_acc_i, in_y_i, in_xg_i, in_og_i};
        p_d = {PW{1'b0}};
        j_d = {CNT_W{1'b0}};
        og_base_d = in_og_i == {CNT_W{1'b0}} ? cfg_thr_base_i : og_base_q + rows_tw;
        row_base_d = og_base_d;
        left_d = {1'b0, cfg_levels_i};
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
          state_d = (chunk_done && !cfg_logits_i) ? S_WRITE : S_IDLE;
          plane_d = 4'd0;
        end
      end
      default: begin  // S_WRITE
        plane_d = plane_q + 1'b1;
        wr_ptr_d = wr_ptr_q + 1'b1;
        if (plane_q == cfg_out_planes_i - 1'b1) state_d = S_IDLE;
      end
    endcase
  end

  always @(posedge clk_i) begin
    if (!rst_ni) state_q <= S_IDLE;
    else         state_q <= state_d;
    {acc_q, y_q, xg_q, og_q} <= {acc_d, y_d, xg_d, og_d};
    {p_q, j_q, drain_q, plane_q} <= {p_d, j_d, drain_d, plane_d};
    {og_base_q, row_base_q, left_q, wr_ptr_q} <= {og_base_d, row_base_d, left_d, wr_ptr_d};
  end

  wire unused_ok = &{1'b0, unused_th_ready, tw_ext[TAW+CNT_W-1:TAW], j_ext[TAW+CNT_W-1:TAW],
                     y_q, t_o_ext[CNT_W+PW-1:LOGL]};
endmodule

`default_nettype wire
