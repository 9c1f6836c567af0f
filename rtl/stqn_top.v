// stqn_top: the whole accelerator behind its AXI4-Lite slave (docs/registers.md): the bus
// interface (stqn_axil), the layer-program controller (stqn_ctrl) with its program and
// step-cycle memories, and the datapath (stqn_core). A soft reset (CTRL[1]) resets the
// controller and the datapath but not the bus interface, which answers the write that asked.
`default_nettype none

module stqn_top #(
  parameter integer LANES  = 16,
  parameter integer ROWS   = 2,
  parameter integer COLS   = 4,
  parameter integer ACC_W  = 24,
  parameter integer NTH    = 2,
  parameter integer ACT_BANK_DEPTH = 512,
  parameter integer WGT_DEPTH      = 16384,
  parameter integer THR_DEPTH      = 512,
  parameter integer PROG_DEPTH     = 512,   // 32-bit program words: 64 descriptors
  parameter integer WGT_SPRAM      = 0,
  parameter integer LINE_DEPTH     = 256,   // write-back line buffer (fused pooling, logits)
  parameter integer THR_UNITS      = 1,     // write-back threshold units (stqn_writeback)
  parameter integer CHECK_AHEAD    = 0,     // stqn_ctrl checks descriptor i + 1 while layer i runs
  parameter integer ADDR_W         = 22
) (
  input  wire              clk_i,
  input  wire              rst_ni,
  input  wire              s_awvalid_i,
  output wire              s_awready_o,
  input  wire [ADDR_W-1:0] s_awaddr_i,
  input  wire              s_wvalid_i,
  output wire              s_wready_o,
  input  wire [31:0]       s_wdata_i,
  input  wire [3:0]        s_wstrb_i,
  output wire              s_bvalid_o,
  input  wire              s_bready_i,
  output wire [1:0]        s_bresp_o,
  input  wire              s_arvalid_i,
  output wire              s_arready_o,
  input  wire [ADDR_W-1:0] s_araddr_i,
  output wire              s_rvalid_o,
  input  wire              s_rready_i,
  output wire [31:0]       s_rdata_o,
  output wire [1:0]        s_rresp_o,
  output wire              busy_o,   // STATUS bits as pins (an interrupt source)
  output wire              done_o,
  output wire              error_o
);
  localparam integer AW = $clog2(ACT_BANK_DEPTH), WAW = $clog2(WGT_DEPTH), TAW = $clog2(THR_DEPTH);
  localparam integer PAW = $clog2(PROG_DEPTH), SAW = $clog2(PROG_DEPTH / 8);
  localparam integer LOGITS = 64, LW = $clog2(LOGITS);
  localparam integer DIM_W = 11, CNT_W = 10, CODE_W = 9;
  localparam integer LOGC = $clog2(COLS);

  // Soft reset: one cycle of synchronous reset for the controller and the datapath.
  wire soft_reset;
  reg  soft_reset_q;
  always @(posedge clk_i) soft_reset_q <= rst_ni && soft_reset;
  wire run_rst_n = rst_ni && !soft_reset_q;

  wire              start, busy, done, error;
  wire [15:0]       program_len;
  wire [2:0]        error_code;
  wire [SAW:0]      error_pc;
  wire [LW-1:0]     class_idx;
  wire [31:0]       cycles;

  // Host side of the memories.
  wire              h_prog_we, h_prog_re, h_wgt_we, h_thr_we, h_act_we, h_act_re, h_stepc_re;
  wire [PAW-1:0]    h_prog_addr;
  wire [31:0]       h_prog_wdata, prog_rdata;
  wire [WAW-1:0]    h_wgt_addr;
  wire [2*LANES*ROWS-1:0] h_wgt_wdata;
  wire [TAW-1:0]    h_thr_addr;
  wire [NTH*ACC_W-1:0] h_thr_wdata;
  wire [LOGC-1:0]   h_act_bank;
  wire [AW-1:0]     h_act_addr;
  wire [2*LANES-1:0] h_act_wdata, act_rdata;
  wire [LW-1:0]     h_logit_addr, c_logit_addr;
  wire [31:0]       logit_rdata, stepc_rdata;
  wire [SAW-1:0]    h_stepc_addr;

  stqn_axil #(.LANES(LANES), .ROWS(ROWS), .COLS(COLS), .ACC_W(ACC_W), .NTH(NTH),
              .ACT_BANK_DEPTH(ACT_BANK_DEPTH), .WGT_DEPTH(WGT_DEPTH), .THR_DEPTH(THR_DEPTH),
              .PROG_DEPTH(PROG_DEPTH), .LINE_DEPTH(LINE_DEPTH), .WGT_SPRAM(WGT_SPRAM),
              .LOGITS(LOGITS), .ADDR_W(ADDR_W)) u_axil (
    .clk_i        (clk_i),
    .rst_ni       (rst_ni),
    .s_awvalid_i  (s_awvalid_i),
    .s_awready_o  (s_awready_o),
    .s_awaddr_i   (s_awaddr_i),
    .s_wvalid_i   (s_wvalid_i),
    .s_wready_o   (s_wready_o),
    .s_wdata_i    (s_wdata_i),
    .s_wstrb_i    (s_wstrb_i),
    .s_bvalid_o   (s_bvalid_o),
    .s_bready_i   (s_bready_i),
    .s_bresp_o    (s_bresp_o),
    .s_arvalid_i  (s_arvalid_i),
    .s_arready_o  (s_arready_o),
    .s_araddr_i   (s_araddr_i),
    .s_rvalid_o   (s_rvalid_o),
    .s_rready_i   (s_rready_i),
    .s_rdata_o    (s_rdata_o),
    .s_rresp_o    (s_rresp_o),
    .start_o      (start),
    .soft_reset_o (soft_reset),
    .program_len_o(program_len),
    .busy_i       (busy),
    .done_i       (done),
    .error_i      (error),
    .error_code_i (error_code),
    .error_pc_i   (error_pc),
    .class_i      (class_idx),
    .cycles_i     (cycles),
    .prog_wr_en_o (h_prog_we),
    .prog_rd_en_o (h_prog_re),
    .prog_addr_o  (h_prog_addr),
    .prog_wr_data_o(h_prog_wdata),
    .prog_rd_data_i(prog_rdata),
    .wgt_wr_en_o  (h_wgt_we),
    .wgt_wr_addr_o(h_wgt_addr),
    .wgt_wr_data_o(h_wgt_wdata),
    .thr_wr_en_o  (h_thr_we),
    .thr_wr_addr_o(h_thr_addr),
    .thr_wr_data_o(h_thr_wdata),
    .act_wr_en_o  (h_act_we),
    .act_rd_en_o  (h_act_re),
    .act_bank_o   (h_act_bank),
    .act_addr_o   (h_act_addr),
    .act_wr_data_o(h_act_wdata),
    .act_rd_data_i(act_rdata),
    .logit_rd_addr_o(h_logit_addr),
    .logit_rd_data_i(logit_rdata),
    .step_cyc_rd_en_o  (h_stepc_re),
    .step_cyc_rd_addr_o(h_stepc_addr),
    .step_cyc_rd_data_i(stepc_rdata)
  );

  // Program memory: the host writes (idle), the controller reads while busy, else the host.
  wire           c_prog_re;
  wire [PAW-1:0] c_prog_addr;
  stqn_ram_dp #(.WIDTH(32), .DEPTH(PROG_DEPTH)) u_prog_ram (
    .clk_i    (clk_i),
    .rst_ni   (rst_ni),
    .wr_en_i  (h_prog_we),
    .wr_addr_i(h_prog_addr),
    .wr_data_i(h_prog_wdata),
    .rd_en_i  (busy ? c_prog_re : h_prog_re),
    .rd_addr_i(busy ? c_prog_addr : h_prog_addr),
    .rd_data_o(prog_rdata)
  );

  wire           c_stepc_we;
  wire [SAW-1:0] c_stepc_addr;
  wire [31:0]    c_stepc_data;
  // The controller writes the counts only while busy, and the host reads them only while idle
  // (stqn_axil), so reads and writes never collide and the block RAM needs no bypass.
  stqn_ram_dp #(.WIDTH(32), .DEPTH(PROG_DEPTH / 8)) u_step_cycles (
    .clk_i    (clk_i),
    .rst_ni   (rst_ni),
    .wr_en_i  (c_stepc_we),
    .wr_addr_i(c_stepc_addr),
    .wr_data_i(c_stepc_data),
    .rd_en_i  (h_stepc_re),
    .rd_addr_i(h_stepc_addr),
    .rd_data_o(stepc_rdata)
  );

  // Controller -> datapath descriptor.
  wire                 core_start, core_busy;
  wire [DIM_W-1:0]     in_h, in_w, out_h, out_w;
  wire [AW-1:0]        pix_words, row_words, row_off, col_off, in_base, out_base;
  wire [CNT_W-1:0]     kernel, pad, chunks, ogroups, wplanes, aplanes, thr_words;
  wire [3:0]           out_planes;
  wire                 out_ternary, out_signed, logits;
  wire [1:0]           fused_pool;
  wire                 int8_stem;
  wire [CODE_W-1:0]    act_min;
  wire [8:0]           levels;
  wire [TAW-1:0]       thr_base;
  wire [WAW-1:0]       w_base;

  stqn_ctrl #(.LANES(LANES), .ROWS(ROWS), .COLS(COLS), .ACC_W(ACC_W), .NTH(NTH),
              .ACT_BANK_DEPTH(ACT_BANK_DEPTH), .WGT_DEPTH(WGT_DEPTH), .THR_DEPTH(THR_DEPTH),
              .LINE_DEPTH(LINE_DEPTH), .PROG_DEPTH(PROG_DEPTH), .LOGITS(LOGITS),
              .CHECK_AHEAD(CHECK_AHEAD)) u_ctrl (
    .clk_i            (clk_i),
    .rst_ni           (run_rst_n),
    .start_i          (start),
    .program_len_i    (program_len),
    .busy_o           (busy),
    .done_o           (done),
    .error_o          (error),
    .error_code_o     (error_code),
    .error_pc_o       (error_pc),
    .class_o          (class_idx),
    .cycles_o         (cycles),
    .prog_rd_en_o     (c_prog_re),
    .prog_rd_addr_o   (c_prog_addr),
    .prog_rd_data_i   (prog_rdata),
    .step_cyc_wr_en_o (c_stepc_we),
    .step_cyc_wr_addr_o(c_stepc_addr),
    .step_cyc_wr_data_o(c_stepc_data),
    .logit_rd_addr_o  (c_logit_addr),
    .logit_rd_data_i  (logit_rdata),
    .core_start_o     (core_start),
    .core_busy_i      (core_busy),
    .cfg_in_h_o       (in_h),
    .cfg_in_w_o       (in_w),
    .cfg_out_h_o      (out_h),
    .cfg_out_w_o      (out_w),
    .cfg_pix_words_o  (pix_words),
    .cfg_row_words_o  (row_words),
    .cfg_row_off_o    (row_off),
    .cfg_col_off_o    (col_off),
    .cfg_kernel_o     (kernel),
    .cfg_pad_o        (pad),
    .cfg_chunks_o     (chunks),
    .cfg_ogroups_o    (ogroups),
    .cfg_wplanes_o    (wplanes),
    .cfg_aplanes_o    (aplanes),
    .cfg_out_planes_o (out_planes),
    .cfg_out_ternary_o(out_ternary),
    .cfg_out_signed_o (out_signed),
    .cfg_act_min_o    (act_min),
    .cfg_levels_o     (levels),
    .cfg_thr_words_o  (thr_words),
    .cfg_thr_base_o   (thr_base),
    .cfg_in_base_o    (in_base),
    .cfg_out_base_o   (out_base),
    .cfg_w_base_o     (w_base),
    .cfg_logits_o     (logits),
    .cfg_pool_o       (fused_pool),
    .cfg_int8_o       (int8_stem)
  );

  wire core_busy_conv;
  stqn_core #(.LANES(LANES), .ROWS(ROWS), .COLS(COLS), .ACC_W(ACC_W), .NTH(NTH),
              .ACT_BANK_DEPTH(ACT_BANK_DEPTH), .WGT_DEPTH(WGT_DEPTH), .THR_DEPTH(THR_DEPTH),
              .WGT_SPRAM(WGT_SPRAM), .LINE_DEPTH(LINE_DEPTH), .THR_UNITS(THR_UNITS)) u_core (
    .clk_i            (clk_i),
    .rst_ni           (run_rst_n),
    .act_wr_en_i      (h_act_we),
    .act_wr_bank_i    (h_act_bank),
    .act_wr_addr_i    (h_act_addr),
    .act_wr_data_i    (h_act_wdata),
    .act_rd_en_i      (h_act_re),
    .act_rd_bank_i    (h_act_bank),
    .act_rd_addr_i    (h_act_addr),
    .act_rd_data_o    (act_rdata),
    .w_wr_en_i        (h_wgt_we),
    .w_wr_addr_i      (h_wgt_addr),
    .w_wr_data_i      (h_wgt_wdata),
    .thr_wr_en_i      (h_thr_we),
    .thr_wr_addr_i    (h_thr_addr),
    .thr_wr_data_i    (h_thr_wdata),
    .start_i          (core_start),
    .busy_o           (core_busy_conv),
    .cfg_in_h_i       (in_h),
    .cfg_in_w_i       (in_w),
    .cfg_out_h_i      (out_h),
    .cfg_out_w_i      (out_w),
    .cfg_pix_words_i  (pix_words),
    .cfg_row_words_i  (row_words),
    .cfg_row_off_i    (row_off),
    .cfg_col_off_i    (col_off),
    .cfg_kernel_i     (kernel),
    .cfg_pad_i        (pad),
    .cfg_chunks_i     (chunks),
    .cfg_ogroups_i    (ogroups),
    .cfg_wplanes_i    (wplanes),
    .cfg_aplanes_i    (aplanes),
    .cfg_out_planes_i (out_planes),
    .cfg_out_ternary_i(out_ternary),
    .cfg_out_signed_i (out_signed),
    .cfg_act_min_i    (act_min),
    .cfg_levels_i     (levels),
    .cfg_thr_words_i  (thr_words),
    .cfg_thr_base_i   (thr_base),
    .cfg_in_base_i    (in_base),
    .cfg_out_base_i   (out_base),
    .cfg_w_base_i     (w_base),
    .cfg_logits_i     (logits),
    .cfg_pool_i       (fused_pool),
    .cfg_int8_i       (int8_stem),
    .logit_rd_addr_i  (busy ? c_logit_addr : h_logit_addr),
    .logit_rd_data_o  (logit_rdata)
  );
  assign core_busy = core_busy_conv;

  assign busy_o = busy;
  assign done_o = done;
  assign error_o = error;

  wire unused_ok = &{1'b0, aplanes[CNT_W-1:4]};
endmodule

`default_nettype wire
