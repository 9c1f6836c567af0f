// stqn_agen: address generator of a stride-1 conv layer (im2col on the fly). Walks the loop nest
// of docs/architecture.md section 7 and emits one array beat per step: for every activation bank
// the address to read (or none, for padding), the rotation that maps banks to pixel columns, the
// weight address, the digit-plane shift and the end of the accumulation group.
//
// Activation layout (section 6.1): pixel (y, x), channel chunk k, digit plane b lives in bank
// x mod COLS at in_base + y * row_words + (x / COLS) * pix_words + k * aplanes + b, with
// pix_words = chunks * aplanes and row_words = ceil(in_w / COLS) * pix_words. Addresses are
// kept in incremental registers (no multipliers); the descriptor carries the products.
// Weight layout (section 6.2): in w_base + (((og * K + ky) * K + kx) * chunks + k) * wplanes + bw.
// Loop nest, outermost first: y, xg, og, ky, kx, k, bw, ba. One group = all (ky..ba) of a
// (y, xg, og). Descriptor inputs must hold still while busy_o is high.
//
// Packed rows (cfg_packed_i, the int8 stem): one activation word holds PACK_ROWS image rows, one
// slot each (stqn_conv: a half word): pixel (iy, x) is in slot iy mod PACK_ROWS of the word at
// in_base + (iy / PACK_ROWS) * row_words + (x / COLS) * pix_words in bank x mod COLS (one channel,
// one plane: pix_words = 1). The generator then addresses word row iy / PACK_ROWS and emits the
// slot index iy mod PACK_ROWS with the beat (out_byte_o, the same for every column); row_off is
// (floor(-pad / PACK_ROWS) * row_words) mod 2^AW instead.
`default_nettype none

module stqn_agen #(
  parameter integer COLS  = 4,    // a power of two >= 2
  parameter integer AW    = 9,    // activation bank address bits
  parameter integer WAW   = 14,   // weight address bits
  parameter integer DIM_W = 11,   // spatial sizes up to 2^DIM_W - 1
  parameter integer CNT_W = 10,   // chunks, output groups, kernel, planes up to 2^CNT_W - 1
  parameter integer PACK_ROWS = 4, // image rows per word in packed mode: a power of two >= 1
  // Width of the byte index; derived, do not set.
  parameter integer BYTE_W = (PACK_ROWS > 1) ? $clog2(PACK_ROWS) : 1
) (
  input  wire                    clk_i,
  input  wire                    rst_ni,
  input  wire                    start_i,        // starts a layer when idle
  output wire                    busy_o,
  // Descriptor.
  input  wire [DIM_W-1:0]        cfg_in_h_i,
  input  wire [DIM_W-1:0]        cfg_in_w_i,
  input  wire [DIM_W-1:0]        cfg_out_h_i,
  input  wire [DIM_W-1:0]        cfg_out_w_i,
  input  wire [AW-1:0]           cfg_pix_words_i, // chunks * aplanes
  input  wire [AW-1:0]           cfg_row_words_i, // ceil(in_w / COLS) * pix_words
  input  wire [AW-1:0]           cfg_row_off_i,   // (-pad * row_words) mod 2^AW
  input  wire [AW-1:0]           cfg_col_off_i,   // (floor(-pad / COLS) * pix_words) mod 2^AW
  input  wire [CNT_W-1:0]        cfg_kernel_i,
  input  wire [CNT_W-1:0]        cfg_pad_i,
  input  wire [CNT_W-1:0]        cfg_chunks_i,   // ceil(in_channels / LANES)
  input  wire [CNT_W-1:0]        cfg_ogroups_i,  // ceil(out_channels / ROWS)
  input  wire [CNT_W-1:0]        cfg_wplanes_i,
  input  wire [CNT_W-1:0]        cfg_aplanes_i,
  input  wire [AW-1:0]           cfg_in_base_i,
  input  wire [WAW-1:0]          cfg_w_base_i,
  input  wire                    cfg_packed_i,    // packed image rows (see above)
  // Beat stream.
  output wire                    out_valid_o,
  input  wire                    out_ready_i,
  output wire [COLS-1:0]         out_bank_en_o,   // bank j is read (its tap is inside the image)
  output wire [COLS*AW-1:0]      out_bank_addr_o, // bank j at [j*AW +: AW]
  output wire [$clog2(COLS)-1:0] out_rot_o,       // column c reads bank (c + rot) mod COLS
  output wire [COLS-1:0]         out_col_en_o,    // column c's tap is inside the image
  output wire [WAW-1:0]          out_w_addr_o,
  output wire [3:0]              out_shift_o,     // bw + ba
  output wire [BYTE_W-1:0]       out_byte_o,      // packed mode: the image row's slot in the word
  output wire                    out_last_o,
  output wire [DIM_W-1:0]        out_y_o,         // the group's output row ...
  output wire [DIM_W-1:0]        out_xg_o,        // ... pixel group (x = xg * COLS + c) ...
  output wire [CNT_W-1:0]        out_og_o         // ... and output-channel group
);
  localparam integer LOGC = $clog2(COLS);

  generate
    if (COLS < 2 || (1 << LOGC) != COLS) begin : g_bad_cols
      $error("stqn_agen: COLS must be a power of two >= 2");
    end
    if (PACK_ROWS < 1 || (1 << $clog2(PACK_ROWS)) != PACK_ROWS ||
        BYTE_W != ((PACK_ROWS > 1) ? $clog2(PACK_ROWS) : 1)) begin : g_bad_pack
      $error("stqn_agen: PACK_ROWS must be a power of two >= 1; do not set BYTE_W");
    end
  endgenerate

  // ---- Loop counters: the state is the current beat -------------------------------------------
  // The inner loops (ky, kx, k, bw, ba) are counted here; the group loops (y, xg, og) by
  // stqn_group_pos, stepped when a group's last beat issues.
  reg              busy_q;
  reg [CNT_W-1:0]  ky_q, kx_q, k_q, bw_q, ba_q;
  wire [DIM_W-1:0] y_q, xg_q;
  wire [CNT_W-1:0] og_q;
  wire             og_end, xg_end, y_end;

  wire fire  = busy_q && out_ready_i;
  wire begin_layer = !busy_q && start_i;
  // A counter ends when its increment reaches the count (counter + 1 == count, which is
  // counter == count - 1 modulo 2^W): the incrementer serves the end test, no decrementer.
  wire [CNT_W-1:0] ba_inc = ba_q + 1'b1, bw_inc = bw_q + 1'b1, k_inc = k_q + 1'b1;
  wire [CNT_W-1:0] kx_inc = kx_q + 1'b1, ky_inc = ky_q + 1'b1;
  wire ba_end = ba_inc == cfg_aplanes_i;
  wire bw_end = bw_inc == cfg_wplanes_i;
  wire k_end  = k_inc == cfg_chunks_i;
  wire kx_end = kx_inc == cfg_kernel_i;
  wire ky_end = ky_inc == cfg_kernel_i;
  wire last   = ba_end && bw_end && k_end && kx_end && ky_end;
  wire done   = last && og_end && xg_end && y_end;

  // Odometer: each counter wraps when it and every inner counter are at their end.
  wire             inc_bw = ba_end;
  wire             inc_k  = inc_bw && bw_end;
  wire             inc_kx = inc_k && k_end;
  wire             inc_ky = inc_kx && kx_end;
  wire             inc_og = inc_ky && ky_end;
  wire             inc_xg = inc_og && og_end;
  wire             inc_y  = inc_xg && xg_end;

  stqn_group_pos #(.COLS(COLS), .DIM_W(DIM_W), .CNT_W(CNT_W)) u_pos (
    .clk_i        (clk_i),
    .start_i      (begin_layer),
    .step_i       (fire && inc_og),
    .cfg_out_h_i  (cfg_out_h_i),
    .cfg_out_w_i  (cfg_out_w_i),
    .cfg_ogroups_i(cfg_ogroups_i),
    .y_o          (y_q),
    .xg_o         (xg_q),
    .og_o         (og_q),
    .og_last_o    (og_end),
    .xg_last_o    (xg_end),
    .y_last_o     (y_end)
  );

  reg              busy_d;
  reg [CNT_W-1:0]  ky_d, kx_d, k_d, bw_d, ba_d;
  always @(*) begin
    busy_d = busy_q;
    {ky_d, kx_d, k_d, bw_d, ba_d} = {ky_q, kx_q, k_q, bw_q, ba_q};
    if (begin_layer) begin
      busy_d = 1'b1;
      {ky_d, kx_d, k_d, bw_d, ba_d} = {(5 * CNT_W){1'b0}};
    end else if (fire) begin
      if (done) busy_d = 1'b0;
      ba_d = ba_end ? {CNT_W{1'b0}} : ba_inc;
      if (inc_bw) bw_d = bw_end ? {CNT_W{1'b0}} : bw_inc;
      if (inc_k)  k_d  = k_end  ? {CNT_W{1'b0}} : k_inc;
      if (inc_kx) kx_d = kx_end ? {CNT_W{1'b0}} : kx_inc;
      if (inc_ky) ky_d = ky_end ? {CNT_W{1'b0}} : ky_inc;
    end
  end

  always @(posedge clk_i) begin
    if (!rst_ni) busy_q <= 1'b0;
    else         busy_q <= busy_d;
    {ky_q, kx_q, k_q, bw_q, ba_q} <= {ky_d, kx_d, k_d, bw_d, ba_d};
  end

  // ---- Address registers, updated with the loop counters --------------------------------------
  // act address of bank j = in_base + yrow + kyrow + xcol + kxcol + kpl + ba
  //                         + (j < rot ? pix_words : 0)                       (all mod 2^AW)
  // Unpacked: yrow = y * row_words, kyrow = (ky - pad) * row_words.
  // Packed:   yrow = floor((y - pad) / PACK_ROWS) * row_words, ybyte = (y - pad) mod PACK_ROWS,
  //           kyrow = floor((ybyte + ky) / PACK_ROWS) * row_words, byte = (ybyte + ky) mod PACK_ROWS,
  //           so that yrow + kyrow = floor(iy / PACK_ROWS) * row_words for iy = y + ky - pad.
  reg  [AW-1:0]   yrow_q, kyrow_q, xcol_q, kxcol_q, kpl_q;
  reg  [AW-1:0]   yrow_d, kyrow_d, xcol_d, kxcol_d, kpl_d;
  reg  [BYTE_W-1:0] ybyte_q, byte_q, ybyte_d, byte_d;
  reg  [LOGC-1:0] rot_q, rot_d;    // (kx - pad) mod COLS
  reg  [WAW-1:0]  w_addr_q, w_addr_d;
  wire [LOGC-1:0] rot0 = ~cfg_pad_i[LOGC-1:0] + 1'b1;  // (-pad) mod COLS
  wire [LOGC-1:0] rot_max = {LOGC{1'b1}};
  wire [AW+CNT_W-1:0] aplanes_ext = {{AW{1'b0}}, cfg_aplanes_i};
  wire [AW+CNT_W-1:0] ba_ext      = {{AW{1'b0}}, ba_q};
  wire [AW-1:0]   aplanes_aw = aplanes_ext[AW-1:0];
  // Byte indices count modulo PACK_ROWS; a wrap moves to the next word row.
  localparam [BYTE_W-1:0] LAST_BYTE = PACK_ROWS[BYTE_W-1:0] - 1'b1;
  wire [BYTE_W+CNT_W-1:0] neg_pad = ~{{BYTE_W{1'b0}}, cfg_pad_i} + 1'b1;
  wire [BYTE_W-1:0] byte0      = neg_pad[BYTE_W-1:0] & LAST_BYTE;  // (-pad) mod PACK_ROWS
  wire              ybyte_wrap = ybyte_q == LAST_BYTE;
  wire              byte_wrap  = byte_q == LAST_BYTE;
  wire [BYTE_W-1:0] ybyte_next = ybyte_wrap ? {BYTE_W{1'b0}} : ybyte_q + 1'b1;
  wire [BYTE_W-1:0] byte_next  = byte_wrap ? {BYTE_W{1'b0}} : byte_q + 1'b1;

  always @(*) begin
    {yrow_d, kyrow_d, xcol_d, kxcol_d, kpl_d, rot_d, w_addr_d} =
        {yrow_q, kyrow_q, xcol_q, kxcol_q, kpl_q, rot_q, w_addr_q};
    {ybyte_d, byte_d} = {ybyte_q, byte_q};
    if (begin_layer) begin
      {xcol_d, kpl_d} = {(2 * AW){1'b0}};
      yrow_d   = cfg_packed_i ? cfg_row_off_i : {AW{1'b0}};
      kyrow_d  = cfg_packed_i ? {AW{1'b0}} : cfg_row_off_i;
      ybyte_d  = byte0;
      byte_d   = byte0;
      kxcol_d  = cfg_col_off_i;
      rot_d    = rot0;
      w_addr_d = cfg_w_base_i;
    end else if (fire) begin
      // Weights are stored in loop order: one word per (og, ky, kx, k, bw); replayed per (y, xg).
      if (inc_bw) w_addr_d = inc_xg ? cfg_w_base_i : w_addr_q + 1'b1;
      if (inc_k)  kpl_d = k_end ? {AW{1'b0}} : kpl_q + aplanes_aw;
      if (inc_kx) begin
        if (kx_end) begin
          kxcol_d = cfg_col_off_i;
          rot_d   = rot0;
        end else begin
          rot_d = rot_q + 1'b1;
          if (rot_q == rot_max) kxcol_d = kxcol_q + cfg_pix_words_i;
        end
      end
      if (inc_xg) xcol_d = xg_end ? {AW{1'b0}} : xcol_q + cfg_pix_words_i;
      if (!cfg_packed_i) begin
        if (inc_ky) kyrow_d = ky_end ? cfg_row_off_i : kyrow_q + cfg_row_words_i;
        if (inc_y)  yrow_d  = y_end ? {AW{1'b0}} : yrow_q + cfg_row_words_i;
      end else begin
        if (inc_y) begin
          ybyte_d = ybyte_next;
          if (ybyte_wrap) yrow_d = yrow_q + cfg_row_words_i;
        end
        if (inc_ky) begin
          if (ky_end) begin
            kyrow_d = {AW{1'b0}};
            byte_d  = ybyte_d;
          end else begin
            byte_d = byte_next;
            if (byte_wrap) kyrow_d = kyrow_q + cfg_row_words_i;
          end
        end
      end
    end
  end

  always @(posedge clk_i) begin
    {yrow_q, kyrow_q, xcol_q, kxcol_q, kpl_q, rot_q, w_addr_q} <=
        {yrow_d, kyrow_d, xcol_d, kxcol_d, kpl_d, rot_d, w_addr_d};
    {ybyte_q, byte_q} <= {ybyte_d, byte_d};
  end

  // ---- Validity of the taps: small signed arithmetic on the coordinates -----------------------
  localparam integer CW = DIM_W + 2;  // signed coordinate width
  wire signed [CW-1:0] iy  = $signed({2'b00, y_q}) + $signed({{(CW-CNT_W){1'b0}}, ky_q})
                             - $signed({{(CW-CNT_W){1'b0}}, cfg_pad_i});
  wire signed [CW-1:0] ix0 = $signed({2'b00, xg_q[DIM_W-1-LOGC:0], {LOGC{1'b0}}})
                             + $signed({{(CW-CNT_W){1'b0}}, kx_q})
                             - $signed({{(CW-CNT_W){1'b0}}, cfg_pad_i});
  wire row_ok = iy >= 0 && iy < $signed({2'b00, cfg_in_h_i});
  wire [AW-1:0] base_addr = cfg_in_base_i + yrow_q + kyrow_q + xcol_q + kxcol_q + kpl_q
                            + ba_ext[AW-1:0];
  wire [AW-1:0] next_addr = base_addr + cfg_pix_words_i;  // the next pixel column's word

  // v + c < 0 for a signed v and 0 <= c < COLS (see g_col).
  function automatic below_neg(input [CW-1:0] v, input [LOGC:0] c);
    reg [LOGC:0] low_plus_c;
    begin
      low_plus_c = {1'b0, v[LOGC-1:0]} + c;
      below_neg = v[CW-1] && (!(&v[CW-1:LOGC]) || !low_plus_c[LOGC]);
    end
  endfunction

  genvar c;
  generate
    // Column c's tap x = ix0 + c lies inside the image when ix0 + c >= 0 and ix0 - in_w + c < 0.
    // Both are "v + c < 0" tests with c < COLS: v + c < 0 holds when v < -COLS, fails when
    // v >= 0, and in between (v = -COLS + low) holds when low + c < COLS, so that one subtractor
    // (ix0 - in_w) and a few gates on the low bits serve every column, not two comparators each.
    wire signed [CW-1:0] ixe = ix0 - $signed({2'b00, cfg_in_w_i});
    for (c = 0; c < COLS; c = c + 1) begin : g_col
      localparam [LOGC:0] C = c;
      wire left  = below_neg(ix0, C);  // x < 0
      wire right = below_neg(ixe, C);  // x < in_w
      assign out_col_en_o[c] = row_ok && !left && right;
    end
    for (c = 0; c < COLS; c = c + 1) begin : g_bank
      // Bank c serves column (c - rot) mod COLS, which lies one word further on when c < rot.
      wire [LOGC-1:0] col = c[LOGC-1:0] - rot_q;
      assign out_bank_en_o[c] = out_col_en_o[col];
      if (c == COLS - 1) begin : g_last  // c < rot never holds
        assign out_bank_addr_o[c*AW +: AW] = base_addr;
      end else begin : g_other
        assign out_bank_addr_o[c*AW +: AW] = (c[LOGC-1:0] < rot_q) ? next_addr : base_addr;
      end
    end
  endgenerate

  wire [CNT_W-1:0] shift = bw_q + ba_q;

  assign busy_o       = busy_q;
  assign out_valid_o  = busy_q;
  assign out_rot_o    = rot_q;
  assign out_w_addr_o = w_addr_q;
  assign out_shift_o  = shift[3:0];
  assign out_byte_o   = byte_q;
  assign out_last_o   = last;
  assign out_y_o      = y_q;
  assign out_xg_o     = xg_q;
  assign out_og_o     = og_q;

  // Planes are at most 8 (shift <= 14); the descriptor check bounds them.
  wire unused_ok = &{1'b0, shift[CNT_W-1:4], aplanes_ext[AW+CNT_W-1:AW], ba_ext[AW+CNT_W-1:AW],
                     neg_pad[BYTE_W+CNT_W-1:BYTE_W]};
endmodule

`default_nettype wire
