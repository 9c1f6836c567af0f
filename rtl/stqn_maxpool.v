// stqn_maxpool: max-pooling (or, with cfg_sum_i, window sums: the global average pool is the
// sum over a window as large as the map) on activation codes held as digit planes in the banks
// (docs/architecture.md section 7). For every output pixel and channel chunk it reads the planes
// of each window pixel from the most significant down (Horner: code = 2 * code + digit, no
// shifter), rebuilds the LANES codes, keeps the lane-wise maximum and writes its planes to the
// output region. One bank word per cycle: a pooling pass costs
// out_h * out_w * chunks * planes * (kernel^2 + 1) cycles, small next to the convs around it.
`default_nettype none

module stqn_maxpool #(
  parameter integer LANES  = 16,
  parameter integer COLS   = 4,
  parameter integer AW     = 9,
  parameter integer DIM_W  = 11,
  parameter integer CNT_W  = 10,
  parameter integer CODE_W = 9
) (
  input  wire                    clk_i,
  input  wire                    rst_ni,
  input  wire                    start_i,
  output wire                    busy_o,
  // Descriptor: input (h, w) with in_wb words per bank row, output (out_h, out_w, out_wb),
  // window kernel x kernel with stride, channel chunks, planes, signedness of the codes.
  input  wire [DIM_W-1:0]        cfg_in_wb_i,
  input  wire [DIM_W-1:0]        cfg_out_h_i,
  input  wire [DIM_W-1:0]        cfg_out_w_i,
  input  wire [DIM_W-1:0]        cfg_out_wb_i,
  input  wire [CNT_W-1:0]        cfg_kernel_i,
  input  wire [CNT_W-1:0]        cfg_stride_i,
  input  wire [CNT_W-1:0]        cfg_chunks_i,
  input  wire [3:0]              cfg_planes_i,      // planes of the input codes
  input  wire                    cfg_sum_i,         // 1: window sum instead of maximum
  input  wire [3:0]              cfg_out_planes_i,  // planes of the output values
  input  wire                    cfg_ternary_i,     // output encoding: ternary code ...
  input  wire                    cfg_signed_i,      // ... or int:P (else uint:P)
  input  wire [AW-1:0]           cfg_in_base_i,
  input  wire [AW-1:0]           cfg_out_base_i,
  // One-word bank ports.
  output wire                    rd_en_o,
  output wire [$clog2(COLS)-1:0] rd_bank_o,
  output wire [AW-1:0]           rd_addr_o,
  input  wire [2*LANES-1:0]      rd_data_i,   // one cycle after rd_en_o
  output wire                    wr_en_o,
  output wire [$clog2(COLS)-1:0] wr_bank_o,
  output wire [AW-1:0]           wr_addr_o,
  output wire [2*LANES-1:0]      wr_data_o
);
  localparam integer LOGC = $clog2(COLS);

  generate
    if (COLS < 2 || (1 << LOGC) != COLS) begin : g_bad_cols
      $error("stqn_maxpool: COLS must be a power of two >= 2");
    end
  endgenerate

  localparam [1:0] S_IDLE = 2'd0, S_READ = 2'd1, S_LAST = 2'd2, S_WRITE = 2'd3;
  reg [1:0]       state_q, state_d;
  reg [DIM_W-1:0] y_q, y_d, x_q, x_d;
  reg [CNT_W-1:0] k_q, k_d, ky_q, ky_d, kx_q, kx_d;
  reg [3:0]       b_q, b_d;

  wire b_top  = b_q == cfg_planes_i - 1'b1;      // most significant input plane
  wire b_otop = b_q == cfg_out_planes_i - 1'b1;  // most significant output plane
  wire b_zero = b_q == 4'd0;
  wire kx_end = kx_q == cfg_kernel_i - 1'b1;
  wire ky_end = ky_q == cfg_kernel_i - 1'b1;
  wire k_end  = k_q == cfg_chunks_i - 1'b1;
  wire x_end  = x_q == cfg_out_w_i - 1'b1;
  wire y_end  = y_q == cfg_out_h_i - 1'b1;

  // ---- Read address of (y*s+ky, x*s+kx), chunk k, plane b --------------------------------------
  // Coordinates at DIM_W bits, addresses modulo 2^AW (the low bits of a product depend only on
  // the low bits of its operands), so the multipliers stay narrow.
  wire [DIM_W+CNT_W-1:0] ky_ext = {{DIM_W{1'b0}}, ky_q}, kx_ext = {{DIM_W{1'b0}}, kx_q};
  wire [DIM_W+CNT_W-1:0] s_ext  = {{DIM_W{1'b0}}, cfg_stride_i};
  wire [DIM_W-1:0] iy = y_q * s_ext[DIM_W-1:0] + ky_ext[DIM_W-1:0];
  wire [DIM_W-1:0] ix = x_q * s_ext[DIM_W-1:0] + kx_ext[DIM_W-1:0];
  wire [AW+DIM_W-1:0] iy_ext  = {{AW{1'b0}}, iy};
  wire [AW+DIM_W-1:0] ixw_ext = {{AW{1'b0}}, ix >> LOGC};
  wire [AW+DIM_W-1:0] xw_ext  = {{AW{1'b0}}, x_q >> LOGC};
  wire [AW+DIM_W-1:0] y_ext   = {{AW{1'b0}}, y_q};
  wire [AW+DIM_W-1:0] iwb_ext = {{AW{1'b0}}, cfg_in_wb_i};
  wire [AW+DIM_W-1:0] owb_ext = {{AW{1'b0}}, cfg_out_wb_i};
  wire [AW+CNT_W-1:0] ch_ext  = {{AW{1'b0}}, cfg_chunks_i};
  wire [AW+CNT_W-1:0] k_ext   = {{AW{1'b0}}, k_q};
  wire [AW+3:0]       pl_ext  = {{AW{1'b0}}, cfg_planes_i};
  wire [AW+3:0]       opl_ext = {{AW{1'b0}}, cfg_out_planes_i};
  wire [AW+3:0]       b_ext   = {{AW{1'b0}}, b_q};
  wire [AW-1:0] rd_word = ((iy_ext[AW-1:0] * iwb_ext[AW-1:0] + ixw_ext[AW-1:0]) * ch_ext[AW-1:0]
                           + k_ext[AW-1:0]) * pl_ext[AW-1:0] + b_ext[AW-1:0] + cfg_in_base_i;
  wire [AW-1:0] wr_word = ((y_ext[AW-1:0] * owb_ext[AW-1:0] + xw_ext[AW-1:0]) * ch_ext[AW-1:0]
                           + k_ext[AW-1:0]) * opl_ext[AW-1:0] + b_ext[AW-1:0] + cfg_out_base_i;
  assign rd_en_o   = state_q == S_READ;
  assign rd_bank_o = ix[LOGC-1:0];
  assign rd_addr_o = rd_word;

  // ---- Returned planes -> codes -> lane-wise maximum --------------------------------------------
  reg             r_valid_q, r_first_pix_q, r_last_plane_q, r_top_q;
  always @(posedge clk_i) begin
    if (!rst_ni) r_valid_q <= 1'b0;
    else         r_valid_q <= state_q == S_READ;
    r_top_q        <= b_top;
    r_first_pix_q  <= ky_q == {CNT_W{1'b0}} && kx_q == {CNT_W{1'b0}};
    r_last_plane_q <= b_zero;
  end

  reg  [LANES*CODE_W-1:0] code_q, max_q;
  wire [LANES*CODE_W-1:0] code_d, max_d;
  genvar i;
  generate
    for (i = 0; i < LANES; i = i + 1) begin : g_lane
      wire [1:0]               digit = rd_data_i[2*i +: 2];
      // Digit value {-1, 0, +1}; planes arrive most significant first.
      wire signed [CODE_W-1:0] one   = {{(CODE_W-1){1'b0}}, 1'b1};
      wire signed [CODE_W-1:0] dval  = !digit[0] ? {CODE_W{1'b0}} : (digit[1] ? -one : one);
      wire signed [CODE_W-1:0] prev  = code_q[i*CODE_W +: CODE_W];
      wire signed [CODE_W-1:0] code  = r_top_q ? dval : {prev[CODE_W-2:0], 1'b0} + dval;
      wire signed [CODE_W-1:0] best  = max_q[i*CODE_W +: CODE_W];
      assign code_d[i*CODE_W +: CODE_W] = r_valid_q ? code : prev;
      assign max_d[i*CODE_W +: CODE_W] =
          !(r_valid_q && r_last_plane_q) ? best :
          r_first_pix_q ? code : (cfg_sum_i ? best + code : (code > best ? code : best));
      // Write data: plane b of the maximum.
      wire [CODE_W-1:0] m   = max_q[i*CODE_W +: CODE_W];
      wire              bit_b = m[b_q];
      wire              msb = b_otop;
      assign wr_data_o[2*i +: 2] = cfg_ternary_i ? m[1:0] : {bit_b && cfg_signed_i && msb, bit_b};
    end
  endgenerate

  assign wr_en_o   = state_q == S_WRITE;
  assign wr_bank_o = x_q[LOGC-1:0];
  assign wr_addr_o = wr_word;

  // ---- Sequencer: read every plane of every window pixel, wait for the last, write the planes -
  always @(*) begin
    state_d = state_q;
    {y_d, x_d, k_d, ky_d, kx_d, b_d} = {y_q, x_q, k_q, ky_q, kx_q, b_q};
    case (state_q)
      S_IDLE: if (start_i) begin
        state_d = S_READ;
        {y_d, x_d} = {(2 * DIM_W){1'b0}};
        {k_d, ky_d, kx_d} = {(3 * CNT_W){1'b0}};
        b_d = cfg_planes_i - 4'd1;
      end
      S_READ: begin              // planes from the top down
        b_d = b_zero ? cfg_planes_i - 4'd1 : b_q - 4'd1;
        if (b_zero) kx_d = kx_end ? {CNT_W{1'b0}} : kx_q + 1'b1;
        if (b_zero && kx_end) ky_d = ky_end ? {CNT_W{1'b0}} : ky_q + 1'b1;
        if (b_zero && kx_end && ky_end) state_d = S_LAST;
      end
      S_LAST: begin              // the last plane's data arrives this cycle
        state_d = S_WRITE;
        b_d = 4'd0;
      end
      default: begin             // S_WRITE: planes from the bottom up, then the next chunk/pixel
        b_d = b_otop ? cfg_planes_i - 4'd1 : b_q + 4'd1;
        if (b_otop) begin
          state_d = S_READ;
          k_d = k_end ? {CNT_W{1'b0}} : k_q + 1'b1;
          if (k_end) x_d = x_end ? {DIM_W{1'b0}} : x_q + 1'b1;
          if (k_end && x_end) y_d = y_end ? {DIM_W{1'b0}} : y_q + 1'b1;
          if (k_end && x_end && y_end) state_d = S_IDLE;
        end
      end
    endcase
  end

  always @(posedge clk_i) begin
    if (!rst_ni) state_q <= S_IDLE;
    else         state_q <= state_d;
    {y_q, x_q, k_q, ky_q, kx_q, b_q} <= {y_d, x_d, k_d, ky_d, kx_d, b_d};
    code_q <= code_d;
    max_q  <= max_d;
  end

  assign busy_o = state_q != S_IDLE;
  wire unused_ok = &{1'b0, ky_ext[DIM_W+CNT_W-1:DIM_W], kx_ext[DIM_W+CNT_W-1:DIM_W],
                     s_ext[DIM_W+CNT_W-1:DIM_W], iy_ext[AW+DIM_W-1:AW], ixw_ext[AW+DIM_W-1:AW],
                     xw_ext[AW+DIM_W-1:AW], y_ext[AW+DIM_W-1:AW], iwb_ext[AW+DIM_W-1:AW],
                     owb_ext[AW+DIM_W-1:AW], ch_ext[AW+CNT_W-1:AW], k_ext[AW+CNT_W-1:AW],
                     pl_ext[AW+3:AW], opl_ext[AW+3:AW], b_ext[AW+3:AW]};
endmodule

`default_nettype wire
