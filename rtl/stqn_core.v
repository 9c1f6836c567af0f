// stqn_core: one conv layer end to end: stqn_conv (address generation, memories, PE array)
// feeding stqn_writeback (multi-threshold unit, the fused max-pool or sum-pool, and the write-back
// of codes with slot write enables) with the threshold memory. The output codes land in the
// activation banks at cfg_out_base_i, where the next layer reads them (ping-pong by base
// address). The host loads the memories and reads results while idle.
`default_nettype none

module stqn_core #(
  parameter integer LANES  = 16,
  parameter integer ROWS   = 2,
  parameter integer COLS   = 4,
  parameter integer ACC_W  = 24,
  parameter integer NTH    = 2,
  parameter integer ACT_BANK_DEPTH = 512,    // words per activation bank (a power of two)
  parameter integer WGT_DEPTH      = 16384,  // weight words (a power of two)
  parameter integer THR_DEPTH      = 512,    // threshold words (a power of two)
  parameter integer WGT_SPRAM      = 0,      // weights in iCE40 SPRAM (stqn_wmem)
  parameter integer LINE_DEPTH     = 256,    // write-back line-buffer words (a power of two)
  parameter integer THR_UNITS      = 1,      // write-back threshold units (stqn_writeback)
  // Derived address widths (Verilog-2005 has no localparam in the parameter list): do not set.
  parameter integer AW     = $clog2(ACT_BANK_DEPTH),
  parameter integer WAW    = $clog2(WGT_DEPTH),
  parameter integer TAW    = $clog2(THR_DEPTH),
  parameter integer DIM_W  = 11,
  parameter integer CNT_W  = 10,
  parameter integer CODE_W = 9
) (
  input  wire                       clk_i,
  input  wire                       rst_ni,
  // Host port (idle only).
  input  wire                       act_wr_en_i,
  input  wire [$clog2(COLS)-1:0]    act_wr_bank_i,
  input  wire [AW-1:0]              act_wr_addr_i,
  input  wire [2*LANES-1:0]         act_wr_data_i,
  input  wire                       act_rd_en_i,
  input  wire [$clog2(COLS)-1:0]    act_rd_bank_i,
  input  wire [AW-1:0]              act_rd_addr_i,
  output wire [2*LANES-1:0]         act_rd_data_o,
  input  wire                       w_wr_en_i,
  input  wire [WAW-1:0]             w_wr_addr_i,
  input  wire [2*LANES*ROWS-1:0]    w_wr_data_i,
  input  wire                       thr_wr_en_i,
  input  wire [TAW-1:0]             thr_wr_addr_i,
  input  wire [NTH*ACC_W-1:0]       thr_wr_data_i,
  // Layer descriptor and control.
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
  input  wire [3:0]                 cfg_out_planes_i,
  input  wire                       cfg_out_ternary_i,
  input  wire                       cfg_out_signed_i,
  input  wire [CODE_W-1:0]          cfg_act_min_i,
  input  wire [8:0]                 cfg_levels_i,
  input  wire [CNT_W-1:0]           cfg_thr_words_i,
  input  wire [TAW-1:0]             cfg_thr_base_i,
  input  wire [AW-1:0]              cfg_in_base_i,
  input  wire [AW-1:0]              cfg_out_base_i,
  input  wire [WAW-1:0]             cfg_w_base_i,
  input  wire                       cfg_logits_i,     // see stqn_writeback
  input  wire [1:0]                 cfg_pool_i,       // 0 none, 1 max 2 x 2 / 2, 2 global sum
  input  wire                       cfg_int8_i,       // int8 stem mode (see stqn_conv)
  input  wire [5:0]                 logit_rd_addr_i,  // while idle, data one cycle later
  output wire [31:0]                logit_rd_data_o
);
  localparam integer SLOTS = LANES / ROWS;  // output-channel groups per bank word
  wire                       conv_busy, conv_valid, wb_ready, wb_done, wb_busy;
  wire [ROWS*COLS*ACC_W-1:0] conv_acc;
  wire [DIM_W-1:0]           conv_y, conv_xg;
  wire [CNT_W-1:0]           conv_og;
  wire [COLS*SLOTS-1:0]      wb_wr_en;
  wire [AW-1:0]              wb_wr_addr;
  wire [COLS*2*LANES-1:0]    wb_wr_data;
  wire                       thr_rd_en;
  wire [TAW-1:0]             thr_rd_addr;
  wire [NTH*ACC_W-1:0]       thr_rd_data;

  // Bank writes: the write-back while a layer runs, otherwise the host (every lane of one bank).
  wire [COLS-1:0] host_bank = act_wr_en_i ? ({{(COLS-1){1'b0}}, 1'b1} << act_wr_bank_i)
                                          : {COLS{1'b0}};
  wire [COLS*SLOTS-1:0] host_wr_en;
  genvar hb;
  generate
    for (hb = 0; hb < COLS; hb = hb + 1) begin : g_host_bank
      assign host_wr_en[hb*SLOTS +: SLOTS] = {SLOTS{host_bank[hb]}};
    end
  endgenerate
  wire            wb_owns = wb_busy || conv_busy;

  stqn_conv #(.LANES(LANES), .ROWS(ROWS), .COLS(COLS), .ACC_W(ACC_W), .AW(AW), .WAW(WAW),
              .DIM_W(DIM_W), .CNT_W(CNT_W), .WGT_SPRAM(WGT_SPRAM)) u_conv (
    .clk_i        (clk_i),
    .rst_ni       (rst_ni),
    .act_wr_en_i  (wb_owns ? wb_wr_en : host_wr_en),
    .act_wr_addr_i(wb_owns ? wb_wr_addr : act_wr_addr_i),
    .act_wr_data_i(wb_owns ? wb_wr_data : {COLS{act_wr_data_i}}),
    .act_rd_en_i  (act_rd_en_i),
    .act_rd_bank_i(act_rd_bank_i),
    .act_rd_addr_i(act_rd_addr_i),
    .act_rd_data_o(act_rd_data_o),
    .w_wr_en_i    (w_wr_en_i),
    .w_wr_addr_i  (w_wr_addr_i),
    .w_wr_data_i  (w_wr_data_i),
    .start_i      (start_i && !busy_o),
    .busy_o       (conv_busy),
    .cfg_in_h_i   (cfg_in_h_i),
    .cfg_in_w_i   (cfg_in_w_i),
    .cfg_out_h_i  (cfg_out_h_i),
    .cfg_out_w_i  (cfg_out_w_i),
    .cfg_pix_words_i(cfg_pix_words_i),
    .cfg_row_words_i(cfg_row_words_i),
    .cfg_row_off_i  (cfg_row_off_i),
    .cfg_col_off_i  (cfg_col_off_i),
    .cfg_kernel_i (cfg_kernel_i),
    .cfg_pad_i    (cfg_pad_i),
    .cfg_chunks_i (cfg_chunks_i),
    .cfg_ogroups_i(cfg_ogroups_i),
    .cfg_wplanes_i(cfg_wplanes_i),
    .cfg_aplanes_i(cfg_aplanes_i),
    .cfg_in_base_i(cfg_in_base_i),
    .cfg_w_base_i (cfg_w_base_i),
    .cfg_int8_i   (cfg_int8_i),
    .out_valid_o  (conv_valid),
    .out_ready_i  (wb_ready),
    .out_done_i   (wb_done),
    .out_acc_o    (conv_acc),
    .out_y_o      (conv_y),
    .out_xg_o     (conv_xg),
    .out_og_o     (conv_og)
  );

  stqn_ram_dp #(.WIDTH(NTH * ACC_W), .DEPTH(1 << TAW)) u_thr_ram (
    .clk_i    (clk_i),
    .rst_ni   (rst_ni),
    .wr_en_i  (thr_wr_en_i),
    .wr_addr_i(thr_wr_addr_i),
    .wr_data_i(thr_wr_data_i),
    .rd_en_i  (thr_rd_en),
    .rd_addr_i(thr_rd_addr),
    .rd_data_o(thr_rd_data)
  );

  stqn_writeback #(.LANES(LANES), .ROWS(ROWS), .COLS(COLS), .ACC_W(ACC_W), .NTH(NTH), .AW(AW),
                   .TAW(TAW), .DIM_W(DIM_W), .CNT_W(CNT_W), .CODE_W(CODE_W),
                   .LOGITS(64), .LINE_DEPTH(LINE_DEPTH), .THR_UNITS(THR_UNITS)) u_writeback (
    .clk_i            (clk_i),
    .rst_ni           (rst_ni),
    .start_i          (start_i && !busy_o),
    .cfg_out_h_i      (cfg_out_h_i),
    .cfg_out_w_i      (cfg_out_w_i),
    .cfg_ogroups_i    (cfg_ogroups_i),
    .cfg_out_planes_i (cfg_out_planes_i),
    .cfg_out_ternary_i(cfg_out_ternary_i),
    .cfg_out_signed_i (cfg_out_signed_i),
    .cfg_act_min_i    (cfg_act_min_i),
    .cfg_levels_i     (cfg_levels_i),
    .cfg_thr_words_i  (cfg_thr_words_i),
    .cfg_thr_base_i   (cfg_thr_base_i),
    .cfg_out_base_i   (cfg_out_base_i),
    .cfg_pool_i       (cfg_pool_i),
    .cfg_logits_i     (cfg_logits_i),
    .logit_rd_en_i    (!busy_o),
    .logit_rd_addr_i  (logit_rd_addr_i),
    .logit_rd_data_o  (logit_rd_data_o),
    .in_valid_i       (conv_valid),
    .in_ready_o       (wb_ready),
    .in_done_o        (wb_done),
    .in_acc_i         (conv_acc),
    .in_y_i           (conv_y),
    .in_xg_i          (conv_xg),
    .in_og_i          (conv_og),
    .thr_rd_en_o      (thr_rd_en),
    .thr_rd_addr_o    (thr_rd_addr),
    .thr_rd_data_i    (thr_rd_data),
    .act_wr_en_o      (wb_wr_en),
    .act_wr_addr_o    (wb_wr_addr),
    .act_wr_data_o    (wb_wr_data),
    .busy_o           (wb_busy)
  );

  assign busy_o = conv_busy || wb_busy;
endmodule

`default_nettype wire
