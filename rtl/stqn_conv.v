// stqn_conv: the conv datapath of one layer: address generator (stqn_agen), COLS activation
// banks and the weight memory (stqn_ram_dp), the bank-to-column rotation with zero padding, and
// the PE array (stqn_array). Emits the accumulators of every (row, pixel group, output-channel
// group) with its position. Thresholding and the write-back of codes are downstream: the consumer
// takes a group's accumulators (out_valid_o && out_ready_i) and keeps them; out_done_i then tells
// when it is done with the group, and the position (out_y_o, out_xg_o, out_og_o) names the oldest
// group taken and not done (or the next one to come), so the consumer need not copy it.
// In int8 mode (cfg_int8_i, the stem) the input image is stored with packed rows (stqn_agen) and
// every beat multiplies each row's int8 weight by each column's uint8 pixel (stqn_array): one
// beat per kernel tap.
// The activation banks take writes (host loads or the write-back of codes) at any time the
// layer being computed does not read those words; the host read port works while idle. Idle
// means busy_o low: the generator has finished and every group has left the array. start_i is
// ignored while busy, and the descriptor must hold still until busy_o falls (the positions of
// the finished groups are counted at the array's output).
`default_nettype none

module stqn_conv #(
  parameter integer LANES = 16,
  parameter integer ROWS  = 2,
  parameter integer COLS  = 4,
  parameter integer ACC_W = 24,
  parameter integer AW    = 9,    // activation bank address bits
  parameter integer WAW   = 14,   // weight address bits
  parameter integer DIM_W = 11,
  parameter integer CNT_W = 10,
  parameter integer WGT_SPRAM = 0 // weights in iCE40 SPRAM (see stqn_wmem)
) (
  input  wire                       clk_i,
  input  wire                       rst_ni,
  // Activation bank writes: slot s (lanes s*ROWS .. s*ROWS+ROWS-1) of bank j takes the same
  // lanes of word j of the data when enable [j*(LANES/ROWS) + s] is set (the write-back updates
  // one group's slot of a word; a slot is 2*ROWS bits, one enable of the block RAM each).
  input  wire [COLS*(LANES/ROWS)-1:0] act_wr_en_i,
  input  wire [AW-1:0]              act_wr_addr_i,
  input  wire [COLS*2*LANES-1:0]    act_wr_data_i,
  // Host read of one bank word (while idle), data one cycle later.
  input  wire                       act_rd_en_i,
  input  wire [$clog2(COLS)-1:0]    act_rd_bank_i,
  input  wire [AW-1:0]              act_rd_addr_i,
  output wire [2*LANES-1:0]         act_rd_data_o,
  input  wire                       w_wr_en_i,
  input  wire [WAW-1:0]             w_wr_addr_i,
  input  wire [2*LANES*ROWS-1:0]    w_wr_data_i,
  // Descriptor (see stqn_agen) and control.
  input  wire                       start_i,
  output wire                       busy_o,
  input  wire [DIM_W-1:0]           cfg_in_h_i,
  input  wire [DIM_W-1:0]           cfg_in_w_i,
  input  wire [DIM_W-1:0]           cfg_out_h_i,
  input  wire [DIM_W-1:0]           cfg_out_w_i,
  input  wire [AW-1:0]              cfg_pix_words_i,  // see stqn_agen
  input  wire [AW-1:0]              cfg_row_words_i,
  input  wire [AW-1:0]              cfg_row_off_i,
  input  wire [AW-1:0]              cfg_col_off_i,
  input  wire [CNT_W-1:0]           cfg_kernel_i,
  input  wire [CNT_W-1:0]           cfg_pad_i,
  input  wire [CNT_W-1:0]           cfg_chunks_i,
  input  wire [CNT_W-1:0]           cfg_ogroups_i,
  input  wire [CNT_W-1:0]           cfg_wplanes_i,
  input  wire [CNT_W-1:0]           cfg_aplanes_i,
  input  wire [AW-1:0]              cfg_in_base_i,
  input  wire [WAW-1:0]             cfg_w_base_i,
  input  wire                       cfg_int8_i,       // int8 stem mode: packed rows, int8 weights
  // Accumulators of each finished group.
  output wire                       out_valid_o,
  input  wire                       out_ready_i,
  input  wire                       out_done_i,  // the consumer is done with its oldest group
  output wire [ROWS*COLS*ACC_W-1:0] out_acc_o,
  output wire [DIM_W-1:0]           out_y_o,
  output wire [DIM_W-1:0]           out_xg_o,
  output wire [CNT_W-1:0]           out_og_o
);
  localparam integer LOGC  = $clog2(COLS);
  // int8 mode: image rows per word, one per half word (its low byte), or one if a word is a byte.
  localparam integer PACK_ROWS = (LANES >= 8) ? 2 : 1;
  localparam integer BYTE_W = 1;

  // ---- Address generator ----------------------------------------------------------------------
  wire                  ag_valid, ag_last;
  wire [COLS-1:0]       ag_bank_en, ag_col_en;
  wire [COLS*AW-1:0]    ag_bank_addr;
  wire [LOGC-1:0]       ag_rot;
  wire [WAW-1:0]        ag_w_addr;
  wire [3:0]            ag_shift;
  wire [BYTE_W-1:0]     ag_byte;
  wire [DIM_W-1:0]      unused_ag_y, unused_ag_xg;  // positions leave the array in order (below)
  wire [CNT_W-1:0]      unused_ag_og;
  wire                  advance;  // the array takes a beat this cycle (or has room for one)
  wire                  agen_busy;
  // A layer starts only when the previous one has left the array (its positions are counted at
  // the output, below).
  wire                  start_layer = start_i && !busy_o;

  stqn_agen #(.COLS(COLS), .AW(AW), .WAW(WAW), .DIM_W(DIM_W), .CNT_W(CNT_W),
              .PACK_ROWS(PACK_ROWS)) u_agen (
    .clk_i          (clk_i),
    .rst_ni         (rst_ni),
    .start_i        (start_layer),
    .busy_o         (agen_busy),
    .cfg_in_h_i     (cfg_in_h_i),
    .cfg_in_w_i     (cfg_in_w_i),
    .cfg_out_h_i    (cfg_out_h_i),
    .cfg_out_w_i    (cfg_out_w_i),
    .cfg_pix_words_i(cfg_pix_words_i),
    .cfg_row_words_i(cfg_row_words_i),
    .cfg_row_off_i  (cfg_row_off_i),
    .cfg_col_off_i  (cfg_col_off_i),
    .cfg_kernel_i   (cfg_kernel_i),
    .cfg_pad_i      (cfg_pad_i),
    .cfg_chunks_i   (cfg_chunks_i),
    .cfg_ogroups_i  (cfg_ogroups_i),
    .cfg_wplanes_i  (cfg_wplanes_i),
    .cfg_aplanes_i  (cfg_aplanes_i),
    .cfg_in_base_i  (cfg_in_base_i),
    .cfg_w_base_i   (cfg_w_base_i),
    .cfg_packed_i   (cfg_int8_i),
    .out_valid_o    (ag_valid),
    .out_ready_i    (advance),
    .out_bank_en_o  (ag_bank_en),
    .out_bank_addr_o(ag_bank_addr),
    .out_rot_o      (ag_rot),
    .out_col_en_o   (ag_col_en),
    .out_w_addr_o   (ag_w_addr),
    .out_shift_o    (ag_shift),
    .out_byte_o     (ag_byte),
    .out_last_o     (ag_last),
    .out_y_o        (unused_ag_y),
    .out_xg_o       (unused_ag_xg),
    .out_og_o       (unused_ag_og)
  );

  // ---- Memory stage: reads issued for the generator's beat, results one cycle later ----------
  wire ag_fire = ag_valid && advance;
  reg             m_valid_q, m_last_q, m_int8_q;
  reg [BYTE_W-1:0] m_byte_q;
  reg [LOGC-1:0]  m_rot_q;
  reg [COLS-1:0]  m_col_en_q;
  reg [3:0]       m_shift_q;
  wire            m_valid_d  = advance ? ag_valid : m_valid_q;
  wire            m_last_d   = advance ? ag_last : m_last_q;
  // While the conv is idle, the rotation serves the host's bank reads (column 0 shows bank rot).
  wire [LOGC-1:0] m_rot_d    = !busy_o ? act_rd_bank_i : (advance ? ag_rot : m_rot_q);
  wire [COLS-1:0] m_col_en_d = !busy_o ? {COLS{1'b1}} : (advance ? ag_col_en : m_col_en_q);
  wire [3:0]      m_shift_d  = advance ? ag_shift : m_shift_q;
  wire            m_int8_d   = advance ? cfg_int8_i : m_int8_q;
  wire [BYTE_W-1:0] m_byte_d = advance ? ag_byte : m_byte_q;

  always @(posedge clk_i) begin
    if (!rst_ni) m_valid_q <= 1'b0;
    else         m_valid_q <= m_valid_d;
    m_last_q   <= m_last_d;
    m_rot_q    <= m_rot_d;
    m_col_en_q <= m_col_en_d;
    m_shift_q  <= m_shift_d;
    m_int8_q   <= m_int8_d;
    m_byte_q   <= m_byte_d;
  end

  wire [COLS*2*LANES-1:0] bank_data;
  wire [2*LANES*ROWS-1:0] w_data;
  genvar j;
  generate
    for (j = 0; j < COLS; j = j + 1) begin : g_bank
      wire host_rd = !busy_o && act_rd_en_i && act_rd_bank_i == j[LOGC-1:0];
      stqn_ram_dp #(.WIDTH(2 * LANES), .DEPTH(1 << AW), .GRAIN(2 * ROWS)) u_ram (
        .clk_i    (clk_i),
        .rst_ni   (rst_ni),
        .wr_en_i  (act_wr_en_i[j*(LANES/ROWS) +: LANES/ROWS]),
        .wr_addr_i(act_wr_addr_i),
        .wr_data_i(act_wr_data_i[j*2*LANES +: 2*LANES]),
        .rd_en_i  ((ag_fire && ag_bank_en[j]) || host_rd),
        .rd_addr_i(agen_busy ? ag_bank_addr[j*AW +: AW] : act_rd_addr_i),
        .rd_data_o(bank_data[j*2*LANES +: 2*LANES])
      );
    end
  endgenerate

  stqn_wmem #(.WIDTH(2 * LANES * ROWS), .DEPTH(1 << WAW), .USE_SPRAM(WGT_SPRAM)) u_wram (
    .clk_i    (clk_i),
    .rst_ni   (rst_ni),
    .wr_en_i  (w_wr_en_i),
    .wr_addr_i(w_wr_addr_i),
    .wr_data_i(w_wr_data_i),
    .rd_en_i  (ag_fire),
    .rd_addr_i(ag_w_addr),
    .rd_data_o(w_data)
  );

  // Column c reads bank (c + rot) mod COLS; taps outside the image read digit 0 (pixel 0). A
  // barrel rotator: stage s rotates by 2^s when rot[s] is set (one 2:1 multiplexer per bit and
  // stage, the last one merged with the column's enable), cheaper than a COLS:1 multiplexer per
  // column.
  localparam integer WORD = 2 * LANES;
  function automatic [COLS*WORD-1:0] rotate(input [COLS*WORD-1:0] x, input [LOGC-1:0] r);
    integer st, col;
    reg [COLS*WORD-1:0] y;
    begin
      rotate = x;
      for (st = 0; st < LOGC; st = st + 1) begin
        y = rotate;
        for (col = 0; col < COLS; col = col + 1) begin
          if (r[st]) y[col*WORD +: WORD] = rotate[((col + (1 << st)) % COLS)*WORD +: WORD];
        end
        rotate = y;
      end
    end
  endfunction

  wire [COLS*WORD-1:0] rotated = rotate(bank_data, m_rot_q);
  wire [COLS*WORD-1:0] act;
  genvar c;
  generate
    for (c = 0; c < COLS; c = c + 1) begin : g_col
      assign act[c*WORD +: WORD] = m_col_en_q[c] ? rotated[c*WORD +: WORD] : {WORD{1'b0}};
    end
  endgenerate
  assign act_rd_data_o = act[0 +: WORD];  // host read: rot = its bank (above)

  // ---- Array and the positions of the groups in flight ----------------------------------------
  wire array_in_ready, array_out_valid;
  assign advance = array_in_ready;

  stqn_array #(.LANES(LANES), .ROWS(ROWS), .COLS(COLS), .ACC_W(ACC_W), .SHIFT_W(4)) u_array (
    .clk_i      (clk_i),
    .rst_ni     (rst_ni),
    .in_valid_i (m_valid_q),
    .in_ready_o (array_in_ready),
    .in_shift_i (m_shift_q),
    .in_int8_i  (m_int8_q),
    .in_half_i  (m_byte_q),
    .in_last_i  (m_last_q),
    .in_w_i     (w_data),
    .in_a_i     (act),
    .out_valid_o(array_out_valid),
    .out_ready_i(out_ready_i),
    .out_acc_o  (out_acc_o)
  );

  // Groups leave the array in the order they entered, so a second odometer, stepped as the
  // consumer is done with each group, names it (y, xg, og) without carrying positions along.
  wire unused_og_last, unused_xg_last, unused_y_last;
  stqn_group_pos #(.COLS(COLS), .DIM_W(DIM_W), .CNT_W(CNT_W)) u_out_pos (
    .clk_i        (clk_i),
    .start_i      (start_layer),
    .step_i       (out_done_i),
    .cfg_out_h_i  (cfg_out_h_i),
    .cfg_out_w_i  (cfg_out_w_i),
    .cfg_ogroups_i(cfg_ogroups_i),
    .y_o          (out_y_o),
    .xg_o         (out_xg_o),
    .og_o         (out_og_o),
    .og_last_o    (unused_og_last),
    .xg_last_o    (unused_xg_last),
    .y_last_o     (unused_y_last)
  );

  // Groups whose last beat has entered the array and that the consumer is not done with: at most
  // two (one the consumer holds, one whose last beat waits in the array's first stage).
  wire       group_in = m_valid_q && m_last_q && advance;
  reg  [1:0] in_flight_q;
  wire [1:0] in_flight_d = in_flight_q + {1'b0, group_in} - {1'b0, out_done_i};
  always @(posedge clk_i) begin
    if (!rst_ni) in_flight_q <= 2'd0;
    else         in_flight_q <= in_flight_d;
  end

  assign out_valid_o = array_out_valid;
  assign busy_o = agen_busy || m_valid_q || in_flight_q != 2'd0;

`ifdef STQN_ASSERT
  // The consumer holds at most one group: from its take (valid && ready) to its done, which may
  // come in the cycle of the take.
  wire take = out_valid_o && out_ready_i;
  reg  held_q;
  always @(posedge clk_i) begin
    if (!rst_ni) held_q <= 1'b0;
    else         held_q <= take ? (held_q || !out_done_i) : (held_q && !out_done_i);
    if (rst_ni && in_flight_q == 2'd3) $error("stqn_conv: more than two groups in the array");
    if (rst_ni && array_out_valid && in_flight_q == 2'd0) begin
      $error("stqn_conv: a group left the array that never entered");
    end
    if (rst_ni && out_done_i && !held_q && !take) $error("stqn_conv: done for a group never taken");
    if (rst_ni && take && held_q && !out_done_i) $error("stqn_conv: a second group taken before done");
  end
`endif
  wire unused_ok = &{1'b0, unused_ag_y, unused_ag_xg, unused_ag_og, unused_og_last,
                     unused_xg_last, unused_y_last};
endmodule

`default_nettype wire
