// stqn_ram_dp: simple dual-port RAM (one write port, one registered read port) that Yosys infers
// as block RAM on iCE40, ECP5 and Xilinx. A read of the address being written returns the old
// word (read-first). Contents are not reset.
`default_nettype none

module stqn_ram_dp #(
  parameter integer WIDTH = 32,
  parameter integer DEPTH = 512
) (
  input  wire                     clk_i,
  input  wire                     wr_en_i,
  input  wire [$clog2(DEPTH)-1:0] wr_addr_i,
  input  wire [WIDTH-1:0]         wr_data_i,
  input  wire                     rd_en_i,
  input  wire [$clog2(DEPTH)-1:0] rd_addr_i,
  output wire [WIDTH-1:0]         rd_data_o  // word at rd_addr_i of the previous rd_en_i cycle
);
  generate
    if (DEPTH < 2 || WIDTH < 1) begin : g_bad_params
      $error("stqn_ram_dp: DEPTH must be >= 2 and WIDTH >= 1");
    end
  endgenerate

  reg [WIDTH-1:0] mem_q [0:DEPTH-1];
  reg [WIDTH-1:0] rd_data_q;

  always @(posedge clk_i) begin
    if (wr_en_i) mem_q[wr_addr_i] <= wr_data_i;
    if (rd_en_i) rd_data_q <= mem_q[rd_addr_i];
  end

  assign rd_data_o = rd_data_q;
endmodule

`default_nettype wire
