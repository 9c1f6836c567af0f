// stqn_axil: the AXI4-Lite slave of the accelerator (docs/registers.md): five channels with
// the valid/ready contract, one access at a time, the register file and the decode of the
// memory windows. One address register serves both kinds of access (area: the UP5K), so AW and
// AR take turns while it is empty, and W is taken straight into the memories and registers once
// its address is held (no write-data register). Memory words wider than 32 bits are written slice by slice (low slice first,
// held in a staging register); the last slice writes the word. Every access is answered: OKAY,
// or SLVERR for a strobe other than 4'hf, an address outside the map or a memory, a write to a
// read-only register, a memory write or an activation, logit, program or step-cycle read while
// the accelerator is busy.
`default_nettype none

module stqn_axil #(
  parameter integer LANES  = 16,
  parameter integer ROWS   = 2,
  parameter integer COLS   = 4,
  parameter integer ACC_W  = 24,
  parameter integer NTH    = 2,
  parameter integer ACT_BANK_DEPTH = 512,
  parameter integer WGT_DEPTH      = 16384,
  parameter integer THR_DEPTH      = 512,
  parameter integer PROG_DEPTH     = 512,
  parameter integer LINE_DEPTH     = 256,  // the write-back's line buffer (reported in CONFIG2)
  parameter integer WGT_SPRAM      = 0,
  parameter integer LOGITS         = 64,
  parameter integer ADDR_W         = 22,
  // Derived widths: do not set.
  parameter integer AW     = $clog2(ACT_BANK_DEPTH),
  parameter integer WAW    = $clog2(WGT_DEPTH),
  parameter integer TAW    = $clog2(THR_DEPTH),
  parameter integer PAW    = $clog2(PROG_DEPTH),
  parameter integer SAW    = $clog2(PROG_DEPTH / 8),
  parameter integer LW     = $clog2(LOGITS)
) (
  input  wire                    clk_i,
  input  wire                    rst_ni,
  // AXI4-Lite slave (AWPROT/ARPROT are not used).
  input  wire                    s_awvalid_i,
  output wire                    s_awready_o,
  input  wire [ADDR_W-1:0]       s_awaddr_i,
  input  wire                    s_wvalid_i,
  output wire                    s_wready_o,
  input  wire [31:0]             s_wdata_i,
  input  wire [3:0]              s_wstrb_i,
  output wire                    s_bvalid_o,
  input  wire                    s_bready_i,
  output wire [1:0]              s_bresp_o,
  input  wire                    s_arvalid_i,
  output wire                    s_arready_o,
  input  wire [ADDR_W-1:0]       s_araddr_i,
  output wire                    s_rvalid_o,
  input  wire                    s_rready_i,
  output wire [31:0]             s_rdata_o,
  output wire [1:0]              s_rresp_o,
  // Control and status.
  output wire                    start_o,        // CTRL[0] written with 1
  output wire                    soft_reset_o,   // CTRL[1] written with 1
  output wire [15:0]             program_len_o,
  input  wire                    busy_i,
  input  wire                    done_i,
  input  wire                    error_i,
  input  wire [2:0]              error_code_i,
  input  wire [SAW:0]            error_pc_i,
  input  wire [LW-1:0]           class_i,
  input  wire [31:0]             cycles_i,
  // Memories (reads have one cycle of latency).
  output wire                    prog_wr_en_o,
  output wire                    prog_rd_en_o,
  output wire [PAW-1:0]          prog_addr_o,
  output wire [31:0]             prog_wr_data_o,
  input  wire [31:0]             prog_rd_data_i,
  output wire                    wgt_wr_en_o,
  output wire [WAW-1:0]          wgt_wr_addr_o,
  output wire [2*LANES*ROWS-1:0] wgt_wr_data_o,
  output wire                    thr_wr_en_o,
  output wire [TAW-1:0]          thr_wr_addr_o,
  output wire [NTH*ACC_W-1:0]    thr_wr_data_o,
  output wire                    act_wr_en_o,
  output wire                    act_rd_en_o,
  output wire [$clog2(COLS)-1:0] act_bank_o,
  output wire [AW-1:0]           act_addr_o,
  output wire [2*LANES-1:0]      act_wr_data_o,
  input  wire [2*LANES-1:0]      act_rd_data_i,
  output wire [LW-1:0]           logit_rd_addr_o,
  input  wire [31:0]             logit_rd_data_i,
  output wire                    step_cyc_rd_en_o,
  output wire [SAW-1:0]          step_cyc_rd_addr_o,
  input  wire [31:0]             step_cyc_rd_data_i
);
  localparam integer LOGC = $clog2(COLS);
  localparam integer A_BITS = 2 * LANES, W_BITS = 2 * LANES * ROWS, T_BITS = NTH * ACC_W;
  localparam integer A_SL = (A_BITS + 31) / 32, W_SL = (W_BITS + 31) / 32, T_SL = (T_BITS + 31) / 32;
  localparam integer A_LS = $clog2(A_SL), W_LS = $clog2(W_SL), T_LS = $clog2(T_SL);
  localparam integer MAX_SL = W_SL > T_SL ? (W_SL > A_SL ? W_SL : A_SL) : (T_SL > A_SL ? T_SL : A_SL);
  // Staged slices: all but the last of the widest word (the last slice is the write's own data).
  localparam integer STAGE_W = MAX_SL > 1 ? 32 * (MAX_SL - 1) : 32;

  generate
    // The slice counters are 5 bits wide: at most 32 slices (1,024 bits) per memory word.
    if (ADDR_W != 22 || (1 << LOGC) != COLS || T_BITS < 32 || AW > 16 || WAW + W_LS > 18 ||
        TAW + T_LS > 16 || AW + LOGC + A_LS > 19 || PAW > 14 ||
        A_LS > 5 || W_LS > 5 || T_LS > 5) begin : g_bad_params
      $error("stqn_axil: the configuration does not fit the memory map of docs/registers.md");
    end
    if ((1 << AW) != ACT_BANK_DEPTH || (1 << WAW) != WGT_DEPTH || (1 << TAW) != THR_DEPTH ||
        (1 << PAW) != PROG_DEPTH || (1 << SAW) != PROG_DEPTH / 8 || (1 << LW) != LOGITS) begin : g_bad_depths
      $error("stqn_axil: memory depths must be powers of two (the window checks are bit tests)");
    end
  endgenerate

  // Register offsets (word index) and windows (docs/registers.md, models/.../accel/regs.hpp).
  localparam [9:0] R_ID = 10'd0, R_VERSION = 10'd1, R_CONFIG0 = 10'd2, R_CONFIG1 = 10'd3,
                   R_CTRL = 10'd4, R_STATUS = 10'd5, R_ERROR_CODE = 10'd6, R_ERROR_PC = 10'd7,
                   R_PROGRAM_LEN = 10'd8, R_CLASS = 10'd9, R_CYCLES = 10'd10, R_CONFIG2 = 10'd11;
  localparam [31:0] ID_VALUE = 32'h5354_514E;   // "STQN"
  // Map and layer-program version 4 (the int8 stem's image two rows per word, one per half word;
  // docs/registers.md), package format 1.
  localparam [31:0] VERSION_VALUE = 32'h0001_0004;
  localparam [7:0] LANES_8 = LANES[7:0], ROWS_8 = ROWS[7:0], COLS_8 = COLS[7:0], ACC_8 = ACC_W[7:0];
  localparam [7:0] NTH_8 = NTH[7:0];
  localparam [7:0] AW_8 = AW[7:0], WAW_8 = WAW[7:0], TAW_8 = TAW[7:0], PAW_8 = PAW[7:0];
  localparam [31:0] A_SL_32 = A_SL, W_SL_32 = W_SL, T_SL_32 = T_SL;
  localparam [0:0] SPRAM_1 = WGT_SPRAM[0:0];
  localparam integer LINE_LOG = $clog2(LINE_DEPTH);
  localparam [7:0] LINE_8 = LINE_LOG[7:0];
  // Slice index masks of the wide windows.
  localparam [31:0] T_MASK_32 = (1 << T_LS) - 1, W_MASK_32 = (1 << W_LS) - 1, A_MASK_32 = (1 << A_LS) - 1;
  localparam [4:0] T_MASK = T_MASK_32[4:0], W_MASK = W_MASK_32[4:0], A_MASK = A_MASK_32[4:0];

  localparam [2:0] SEL_NONE = 3'd0, SEL_REG = 3'd1, SEL_LOGIT = 3'd2, SEL_STEPC = 3'd3,
                   SEL_PROG = 3'd4, SEL_THR = 3'd5, SEL_WGT = 3'd6, SEL_ACT = 3'd7;

  // ---- Channel registers ---------------------------------------------------------------------
  reg              a_full_q, a_full_d, a_wr_q, a_wr_d;  // an address is held; of a write
  reg              turn_w_q, turn_w_d;                  // empty: AW's turn (else AR's)
  reg [ADDR_W-1:0] a_q, a_d;
  reg              b_valid_q, b_valid_d, b_err_q, b_err_d;
  reg              r_valid_q, r_valid_d, r_err_q, r_err_d;
  reg [31:0]       r_data_q, r_data_d;
  reg              rd_pend_q, rd_pend_d, rd_err_q, rd_err_d;
  reg [2:0]        rd_sel_q, rd_sel_d;
  reg [9:0]        rd_reg_q, rd_reg_d;
  reg [4:0]        rd_slice_q, rd_slice_d;
  reg [15:0]       prog_len_q, prog_len_d;
  reg [STAGE_W-1:0] stage_q;

  // A write executes with its W beat (wready is high only while its address is held).
  wire [31:0] w_data = s_wdata_i;
  wire do_write = a_full_q && a_wr_q && !b_valid_q && s_wvalid_i;
  wire do_read  = a_full_q && !a_wr_q && !r_valid_q && !rd_pend_q;

  // ---- Address decode of the held access ---------------------------------------------------------
  // Every window's depth is a power of two, so "word < depth" is a test of the bits above it
  // (a comparator would cost a carry chain per window).
  wire [ADDR_W-1:0] a = a_q;
  // Each window's word index, slices removed: the memories take these bits straight from the
  // address (no multiplexer of one shared index).
  wire [18:0] w_small = {9'd0, a[11:2]};        // registers, logits, step cycles
  wire [18:0] w_prog  = {5'd0, a[15:2]};
  wire [18:0] w_thr   = {3'd0, a[17:2]} >> T_LS;
  wire [18:0] w_wgt   = {1'b0, a[19:2]} >> W_LS;
  wire [18:0] w_act   = a[20:2] >> A_LS;
  reg  [2:0]  sel;
  reg         in_range;
  reg  [4:0]  slice;
  always @(*) begin
    sel = SEL_NONE;
    in_range = 1'b0;
    slice = 5'd0;
    if (a[21:12] == 10'd0) begin
      sel = SEL_REG;
      in_range = w_small <= {9'd0, R_CONFIG2};
    end else if (a[21:12] == 10'd1) begin
      sel = SEL_LOGIT;
      in_range = (w_small >> LW) == 19'd0;
    end else if (a[21:12] == 10'd2) begin
      sel = SEL_STEPC;
      in_range = (w_small >> SAW) == 19'd0;
    end else if (a[21:16] == 6'd1) begin
      sel = SEL_PROG;
      in_range = (w_prog >> PAW) == 19'd0;
    end else if (a[21:18] == 4'd1) begin
      sel = SEL_THR;
      slice = a[6:2] & T_MASK;
      in_range = (w_thr >> TAW) == 19'd0 && {27'd0, slice} < T_SL_32;
    end else if (a[21:20] == 2'd1) begin
      sel = SEL_WGT;
      slice = a[6:2] & W_MASK;
      in_range = (w_wgt >> WAW) == 19'd0 && {27'd0, slice} < W_SL_32;
    end else if (a[21] == 1'b1) begin
      sel = SEL_ACT;
      slice = a[6:2] & A_MASK;
      in_range = (w_act >> (LOGC + AW)) == 19'd0 && {27'd0, slice} < A_SL_32;
    end
  end

  wire is_mem_w   = sel == SEL_PROG || sel == SEL_THR || sel == SEL_WGT || sel == SEL_ACT;
  wire reg_ctrl   = sel == SEL_REG && w_small[9:0] == R_CTRL;
  wire reg_len    = sel == SEL_REG && w_small[9:0] == R_PROGRAM_LEN;
  wire w_ok = in_range && s_wstrb_i == 4'hf && a[1:0] == 2'b00 &&
              (reg_ctrl || (reg_len && !busy_i) || (is_mem_w && !busy_i));
  wire r_ok = in_range && a[1:0] == 2'b00 &&
              (sel == SEL_REG ||
               ((sel == SEL_STEPC || sel == SEL_LOGIT || sel == SEL_PROG || sel == SEL_ACT) && !busy_i));
  wire last_slice = sel == SEL_THR ? slice == T_SL_32[4:0] - 5'd1 :
                    sel == SEL_WGT ? slice == W_SL_32[4:0] - 5'd1 :
                    sel == SEL_ACT ? slice == A_SL_32[4:0] - 5'd1 : 1'b1;
  wire mem_we = do_write && w_ok && last_slice;

  // Staging: slice k of a wide word (k below its last slice) goes to stage_q[32k +: 32]; each
  // slice register has its own enable, so there is no shifter on the wide data path.
  wire stage_we = do_write && w_ok && !last_slice;
  genvar k;
  generate
    for (k = 0; k < STAGE_W / 32; k = k + 1) begin : g_stage
      always @(posedge clk_i) begin
        if (stage_we && slice == k[4:0]) stage_q[k*32 +: 32] <= w_data;
      end
    end
  endgenerate
  // Word written with the last slice: the staged slices below it, this beat's data on top.
  wire [W_SL*32-1:0] wgt_word;
  wire [T_SL*32-1:0] thr_word;
  wire [A_SL*32-1:0] act_word;
  generate
    if (W_SL > 1) begin : g_wgt_wide
      assign wgt_word = {w_data, stage_q[(W_SL-1)*32-1:0]};
    end else begin : g_wgt_narrow
      assign wgt_word = w_data;
    end
    if (T_SL > 1) begin : g_thr_wide
      assign thr_word = {w_data, stage_q[(T_SL-1)*32-1:0]};
    end else begin : g_thr_narrow
      assign thr_word = w_data;
    end
    if (A_SL > 1) begin : g_act_wide
      assign act_word = {w_data, stage_q[(A_SL-1)*32-1:0]};
    end else begin : g_act_narrow
      assign act_word = w_data;
    end
  endgenerate

  // ---- Channel sequencing ------------------------------------------------------------------------
  reg [31:0] reg_rdata;
  always @(*) begin
    case (rd_reg_q)
      R_ID:          reg_rdata = ID_VALUE;
      R_VERSION:     reg_rdata = VERSION_VALUE;
      R_CONFIG0:     reg_rdata = {ACC_8, COLS_8, ROWS_8, LANES_8};
      R_CONFIG1:     reg_rdata = {PAW_8, TAW_8, WAW_8, AW_8};
      R_STATUS:      reg_rdata = {29'd0, error_i, done_i, busy_i};
      R_ERROR_CODE:  reg_rdata = {29'd0, error_code_i};
      R_ERROR_PC:    reg_rdata = {{(31-SAW){1'b0}}, error_pc_i};
      R_PROGRAM_LEN: reg_rdata = {16'd0, prog_len_q};
      R_CLASS:       reg_rdata = {{(32-LW){1'b0}}, class_i};
      R_CYCLES:      reg_rdata = cycles_i;
      R_CONFIG2:     reg_rdata = {8'd0, LINE_8, 7'd0, SPRAM_1, NTH_8};
      default:       reg_rdata = 32'd0;  // CTRL reads 0
    endcase
  end
  wire [A_SL*32-1:0] act_rd_wide = {{(A_SL*32-A_BITS){1'b0}}, act_rd_data_i};

  always @(*) begin
    {a_full_d, a_wr_d, a_d} = {a_full_q, a_wr_q, a_q};
    turn_w_d = !turn_w_q;
    {b_valid_d, b_err_d, r_valid_d, r_err_d, r_data_d} = {b_valid_q, b_err_q, r_valid_q, r_err_q, r_data_q};
    {rd_pend_d, rd_err_d, rd_sel_d, rd_reg_d, rd_slice_d} = {1'b0, rd_err_q, rd_sel_q, rd_reg_q, rd_slice_q};
    prog_len_d = prog_len_q;
    if (s_awready_o && s_awvalid_i) {a_full_d, a_wr_d, a_d} = {1'b1, 1'b1, s_awaddr_i};
    if (s_arready_o && s_arvalid_i) {a_full_d, a_wr_d, a_d} = {1'b1, 1'b0, s_araddr_i};
    if (b_valid_q && s_bready_i) b_valid_d = 1'b0;
    if (r_valid_q && s_rready_i) r_valid_d = 1'b0;
    if (do_write) begin
      {a_full_d, b_valid_d, b_err_d} = {1'b0, 1'b1, !w_ok};
      if (w_ok && reg_len) prog_len_d = w_data[15:0];
    end
    if (do_read) begin
      {a_full_d, rd_pend_d, rd_err_d, rd_sel_d} = {1'b0, 1'b1, !r_ok, sel};
      {rd_reg_d, rd_slice_d} = {w_small[9:0], slice};
    end
    if (rd_pend_q) begin
      r_valid_d = 1'b1;
      r_err_d = rd_err_q;
      case (rd_sel_q)
        SEL_REG:   r_data_d = reg_rdata;
        SEL_LOGIT: r_data_d = logit_rd_data_i;
        SEL_STEPC: r_data_d = step_cyc_rd_data_i;
        SEL_PROG:  r_data_d = prog_rd_data_i;
        SEL_ACT:   r_data_d = act_rd_wide[rd_slice_q*32 +: 32];
        default:   r_data_d = 32'd0;
      endcase
      if (rd_err_q) r_data_d = 32'd0;
    end
  end

  always @(posedge clk_i) begin
    if (!rst_ni) begin
      {a_full_q, turn_w_q, b_valid_q, r_valid_q, rd_pend_q} <= 5'd0;
      prog_len_q <= 16'd0;
    end else begin
      {a_full_q, turn_w_q, b_valid_q, r_valid_q, rd_pend_q} <=
          {a_full_d, turn_w_d, b_valid_d, r_valid_d, rd_pend_d};
      prog_len_q <= prog_len_d;
    end
    {a_wr_q, a_q} <= {a_wr_d, a_d};
    {b_err_q, r_err_q, r_data_q} <= {b_err_d, r_err_d, r_data_d};
    {rd_err_q, rd_sel_q, rd_reg_q, rd_slice_q} <= {rd_err_d, rd_sel_d, rd_reg_d, rd_slice_d};
  end

  assign s_awready_o = !a_full_q && turn_w_q;
  assign s_wready_o  = a_full_q && a_wr_q && !b_valid_q;
  assign s_arready_o = !a_full_q && !turn_w_q;
  assign s_bvalid_o  = b_valid_q;
  assign s_bresp_o   = b_err_q ? 2'b10 : 2'b00;
  assign s_rvalid_o  = r_valid_q;
  assign s_rresp_o   = r_err_q ? 2'b10 : 2'b00;
  assign s_rdata_o   = r_data_q;

  wire do_mem_read = do_read && r_ok;
  // Start and soft reset in one write: the reset wins and the start is dropped, so that the
  // controller never begins a run in the same cycle as it is reset.
  assign start_o      = do_write && w_ok && reg_ctrl && w_data[0] && !w_data[1];
  assign soft_reset_o = do_write && w_ok && reg_ctrl && w_data[1];
  assign program_len_o = prog_len_q;
  assign prog_wr_en_o   = mem_we && sel == SEL_PROG;
  assign prog_rd_en_o   = do_mem_read && sel == SEL_PROG;
  assign prog_addr_o    = w_prog[PAW-1:0];
  assign prog_wr_data_o = w_data;
  assign wgt_wr_en_o    = mem_we && sel == SEL_WGT;
  assign wgt_wr_addr_o  = w_wgt[WAW-1:0];
  assign wgt_wr_data_o  = wgt_word[W_BITS-1:0];
  assign thr_wr_en_o    = mem_we && sel == SEL_THR;
  assign thr_wr_addr_o  = w_thr[TAW-1:0];
  assign thr_wr_data_o  = thr_word[T_BITS-1:0];
  assign act_wr_en_o    = mem_we && sel == SEL_ACT;
  assign act_rd_en_o    = do_mem_read && sel == SEL_ACT;
  assign act_bank_o     = w_act[LOGC-1:0];
  assign act_addr_o     = w_act[LOGC +: AW];
  assign act_wr_data_o  = act_word[A_BITS-1:0];
  assign logit_rd_addr_o    = w_small[LW-1:0];
  assign step_cyc_rd_en_o   = do_mem_read && sel == SEL_STEPC;
  assign step_cyc_rd_addr_o = w_small[SAW-1:0];

  // The words' bits above the memory widths (the last slice is only partly used).
  wire unused_ok = &{1'b0, a[1:0], wgt_word, thr_word, act_word};

`ifdef STQN_ASSERT
  // The valid/ready contract on all five channels (both sides: the master holds AW/W/AR, this
  // slave holds B and R).
  stqn_hs_check #(.WIDTH(ADDR_W), .NAME("axil.aw")) u_chk_aw (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(s_awvalid_i), .ready_i(s_awready_o), .data_i(s_awaddr_i));
  stqn_hs_check #(.WIDTH(36), .NAME("axil.w")) u_chk_w (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(s_wvalid_i), .ready_i(s_wready_o),
    .data_i({s_wstrb_i, s_wdata_i}));
  stqn_hs_check #(.WIDTH(2), .NAME("axil.b")) u_chk_b (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(s_bvalid_o), .ready_i(s_bready_i), .data_i(s_bresp_o));
  stqn_hs_check #(.WIDTH(ADDR_W), .NAME("axil.ar")) u_chk_ar (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(s_arvalid_i), .ready_i(s_arready_o), .data_i(s_araddr_i));
  stqn_hs_check #(.WIDTH(34), .NAME("axil.r")) u_chk_r (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(s_rvalid_o), .ready_i(s_rready_i),
    .data_i({s_rresp_o, s_rdata_o}));
`endif
endmodule

`default_nettype wire
