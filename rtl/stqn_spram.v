// stqn_spram: one 16K x 16 single-port RAM. With STQN_ICE40 defined it is the UP5K's
// SB_SPRAM256KA; otherwise a behavioural model of that primitive's documented behaviour: a write
// updates the nibbles whose mask bit is set, a read returns the word one cycle later, and
// rdata_o holds its value while no read is issued.
`default_nettype none

module stqn_spram (
  input  wire        clk_i,
  input  wire        en_i,     // chip select
  input  wire        we_i,     // 1 = write, 0 = read
  input  wire [3:0]  mask_i,   // write enable per nibble: bit k covers data[4k+3:4k]
  input  wire [13:0] addr_i,
  input  wire [15:0] wdata_i,
  output wire [15:0] rdata_o
);
`ifdef STQN_ICE40
  SB_SPRAM256KA u_spram (
    .ADDRESS   (addr_i),
    .DATAIN    (wdata_i),
    .MASKWREN  (mask_i),
    .WREN      (we_i),
    .CHIPSELECT(en_i),
    .CLOCK     (clk_i),
    .STANDBY   (1'b0),
    .SLEEP     (1'b0),
    .POWEROFF  (1'b1),
    .DATAOUT   (rdata_o)
  );
`else
  reg [15:0] mem_q [0:16383];
  reg [15:0] rdata_q;
  wire [15:0] bit_mask = {{4{mask_i[3]}}, {4{mask_i[2]}}, {4{mask_i[1]}}, {4{mask_i[0]}}};

  always @(posedge clk_i) begin
    if (en_i && we_i) mem_q[addr_i] <= (mem_q[addr_i] & ~bit_mask) | (wdata_i & bit_mask);
    if (en_i && !we_i) rdata_q <= mem_q[addr_i];
  end

  assign rdata_o = rdata_q;
`endif
endmodule

`default_nettype wire
