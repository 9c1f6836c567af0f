// stqn_ram_dp: simple dual-port RAM (one write port, one registered read port) that Yosys infers
// as block RAM on iCE40, ECP5 and Xilinx. The write port has one enable per GRAIN-bit segment of
// the word (the iCE40 SB_RAM40_4K's per-bit MASK; GRAIN = WIDTH: one enable for the word), so a
// writer can update some lanes of a word and leave the others. A read of the word being written
// in the same cycle returns the old word if READ_FIRST, and is undefined otherwise: most users
// never do it (STQN_ASSERT builds check it out of reset), and then Yosys needs no bypass logic
// around the block RAM. Contents are not reset: rst_ni only gates that check, because under reset
// the users' enables may still come from registers the reset has not reached yet.
`default_nettype none

module stqn_ram_dp #(
  parameter integer WIDTH = 32,
  parameter integer DEPTH = 512,
  parameter integer GRAIN = WIDTH,  // bits per write enable; divides WIDTH
  parameter integer READ_FIRST = 0  // 1: a same-cycle read of the word being written is defined
) (
  input  wire                     clk_i,
  input  wire                     rst_ni,    // the collision check's only use of it
  input  wire [WIDTH/GRAIN-1:0]   wr_en_i,   // segment s = bits [s*GRAIN +: GRAIN]
  input  wire [$clog2(DEPTH)-1:0] wr_addr_i,
  input  wire [WIDTH-1:0]         wr_data_i,
  input  wire                     rd_en_i,
  input  wire [$clog2(DEPTH)-1:0] rd_addr_i,
  output wire [WIDTH-1:0]         rd_data_o  // word at rd_addr_i of the previous rd_en_i cycle
);
  localparam integer SEGS = WIDTH / GRAIN;

  generate
    if (DEPTH < 2 || WIDTH < 1 || GRAIN < 1 || SEGS * GRAIN != WIDTH) begin : g_bad_params
      $error("stqn_ram_dp: DEPTH must be >= 2, WIDTH >= 1 and GRAIN a divisor of WIDTH");
    end
  endgenerate

  // The conventional masked-write form, which Yosys maps onto the block RAMs' bit enables. The
  // two branches differ only in the attribute, which Verilog cannot make conditional.
  reg [WIDTH-1:0] rd_data_q;
  integer s;
  generate
    if (READ_FIRST != 0) begin : g_read_first
      reg [WIDTH-1:0] mem_q [0:DEPTH-1];
      always @(posedge clk_i) begin
        for (s = 0; s < SEGS; s = s + 1) begin
          if (wr_en_i[s]) mem_q[wr_addr_i][s*GRAIN +: GRAIN] <= wr_data_i[s*GRAIN +: GRAIN];
        end
        if (rd_en_i) rd_data_q <= mem_q[rd_addr_i];
      end
    end else begin : g_no_collision
      (* no_rw_check *) reg [WIDTH-1:0] mem_q [0:DEPTH-1];
      always @(posedge clk_i) begin
        for (s = 0; s < SEGS; s = s + 1) begin
          if (wr_en_i[s]) mem_q[wr_addr_i][s*GRAIN +: GRAIN] <= wr_data_i[s*GRAIN +: GRAIN];
        end
        if (rd_en_i) rd_data_q <= mem_q[rd_addr_i];
      end
`ifdef STQN_ASSERT
      always @(posedge clk_i) begin
        if (rst_ni && rd_en_i && |wr_en_i && rd_addr_i == wr_addr_i)
          $error("stqn_ram_dp: read of a word being written");
      end
`endif
    end
  endgenerate

  assign rd_data_o = rd_data_q;
  wire unused_rst = rst_ni;  // used only by STQN_ASSERT builds
endmodule

`default_nettype wire
