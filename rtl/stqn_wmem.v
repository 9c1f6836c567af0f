// stqn_wmem: the weight memory: one write port (host loads, idle only) and one read port with
// a registered output that holds between reads. USE_SPRAM = 1 builds it from WIDTH / 16 side-by-
// side stqn_spram (iCE40 UP5K SB_SPRAM256KA, single-port: a write wins over a read in the same
// cycle, which the controller never issues); otherwise it is an inferable stqn_ram_dp.
`default_nettype none

module stqn_wmem #(
  parameter integer WIDTH     = 64,
  parameter integer DEPTH     = 16384,
  parameter integer USE_SPRAM = 0
) (
  input  wire                     clk_i,
  input  wire                     rst_ni,  // the block RAM's collision check only
  input  wire                     wr_en_i,
  input  wire [$clog2(DEPTH)-1:0] wr_addr_i,
  input  wire [WIDTH-1:0]         wr_data_i,
  input  wire                     rd_en_i,
  input  wire [$clog2(DEPTH)-1:0] rd_addr_i,
  output wire [WIDTH-1:0]         rd_data_o
);
  localparam integer AW = $clog2(DEPTH);

  generate
    if (USE_SPRAM != 0) begin : g_spram
      if (WIDTH % 16 != 0 || DEPTH > 16384 || DEPTH < 2) begin : g_bad_params
        $error("stqn_wmem: SPRAM needs WIDTH a multiple of 16 and DEPTH <= 16384");
      end
      wire [13:0] addr = {{(14-AW){1'b0}}, wr_en_i ? wr_addr_i : rd_addr_i};
      genvar k;
      for (k = 0; k < WIDTH / 16; k = k + 1) begin : g_slice
        stqn_spram u_spram (
          .clk_i  (clk_i),
          .en_i   (wr_en_i || rd_en_i),
          .we_i   (wr_en_i),
          .mask_i (4'hf),
          .addr_i (addr),
          .wdata_i(wr_data_i[k*16 +: 16]),
          .rdata_o(rd_data_o[k*16 +: 16])
        );
      end
    end else begin : g_bram
      stqn_ram_dp #(.WIDTH(WIDTH), .DEPTH(DEPTH)) u_ram (
        .clk_i    (clk_i),
        .rst_ni   (rst_ni),
        .wr_en_i  (wr_en_i),
        .wr_addr_i(wr_addr_i),
        .wr_data_i(wr_data_i),
        .rd_en_i  (rd_en_i),
        .rd_addr_i(rd_addr_i),
        .rd_data_o(rd_data_o)
      );
    end
  endgenerate
  wire unused_rst = rst_ni;  // the SPRAM build has no use for it
endmodule

`default_nettype wire
