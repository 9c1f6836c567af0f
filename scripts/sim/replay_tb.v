// replay_tb: replays a host bus record (stqn-sim --record) on stqn_top in any Verilog simulator,
// with an AXI4-Lite master of the same cycle timing as the C++ one (sim/include/stqn/sim/axil.hpp):
// inputs change between edges, outputs are sampled at the rising edge. Every read is checked
// against the value the Verilated model returned, so the replay also proves that both simulators
// ran the same cycles. Plusargs: +record=FILE, +max_cycles=N (stop early, for slow simulators).
`timescale 1ns / 1ps
`default_nettype none

module replay_tb;
  // Configuration parameters (set with iverilog -P replay_tb.NAME=VALUE from configs.json).
  parameter integer LANES = 16, ROWS = 2, COLS = 4, ACC_W = 24, NTH = 2;
  parameter integer ACT_BANK_DEPTH = 512, WGT_DEPTH = 16384, THR_DEPTH = 512, WGT_SPRAM = 0;
  parameter integer LINE_DEPTH = 256, THR_UNITS = 1, CHECK_AHEAD = 0;
  localparam integer RESET_CYCLES = 4;  // stqn::sim::kResetCycles
  localparam integer OP_WRITE = 1, OP_READ = 2, OP_IDLE = 3;  // stqn::sim::kRecord*
  localparam integer MAX_REPORTED = 10;

  reg         clk = 1'b0, rst_n = 1'b0;
  reg         awvalid = 1'b0, wvalid = 1'b0, bready = 1'b0, arvalid = 1'b0, rready = 1'b0;
  reg  [21:0] awaddr = 22'd0, araddr = 22'd0;
  reg  [31:0] wdata = 32'd0;
  wire        awready, wready, bvalid, arready, rvalid, busy, done, error;
  wire [1:0]  bresp, rresp;
  wire [31:0] rdata;

  always #5 clk = ~clk;

  stqn_top #(.LANES(LANES), .ROWS(ROWS), .COLS(COLS), .ACC_W(ACC_W), .NTH(NTH),
             .ACT_BANK_DEPTH(ACT_BANK_DEPTH), .WGT_DEPTH(WGT_DEPTH), .THR_DEPTH(THR_DEPTH),
             .LINE_DEPTH(LINE_DEPTH), .THR_UNITS(THR_UNITS), .CHECK_AHEAD(CHECK_AHEAD),
             .WGT_SPRAM(WGT_SPRAM)) u_top (
    .clk_i(clk), .rst_ni(rst_n),
    .s_awvalid_i(awvalid), .s_awready_o(awready), .s_awaddr_i(awaddr),
    .s_wvalid_i(wvalid), .s_wready_o(wready), .s_wdata_i(wdata), .s_wstrb_i(4'hf),
    .s_bvalid_o(bvalid), .s_bready_i(bready), .s_bresp_o(bresp),
    .s_arvalid_i(arvalid), .s_arready_o(arready), .s_araddr_i(araddr),
    .s_rvalid_o(rvalid), .s_rready_i(rready), .s_rdata_o(rdata), .s_rresp_o(rresp),
    .busy_o(busy), .done_o(done), .error_o(error)
  );

  reg [63:0] cycles = 64'd0, max_cycles = 64'd0;
  always @(posedge clk) cycles <= cycles + 64'd1;

  integer fd, fields, op, writes = 0, reads = 0, errors = 0;
  reg [31:0] address, data, got;
  reg        s_awready, s_wready, s_bvalid, s_arready, s_rvalid;
  reg [31:0] s_rdata;
  reg        finished;

  // One rising edge: the slave's outputs as they were just before it.
  task edge_sample;
    begin
      @(posedge clk);
      s_awready = awready;
      s_wready = wready;
      s_bvalid = bvalid;
      s_arready = arready;
      s_rvalid = rvalid;
      s_rdata = rdata;
      @(negedge clk);
      if (max_cycles != 64'd0 && cycles >= max_cycles) begin
        $display("replay: stopped at cycle %0d (+max_cycles): %0d writes, %0d reads, %0d errors",
                 cycles, writes, reads, errors);
        $finish;
      end
    end
  endtask

  task axil_write(input [31:0] a, input [31:0] d);
    begin
      awvalid = 1'b1; wvalid = 1'b1; bready = 1'b1; awaddr = a[21:0]; wdata = d;
      finished = 1'b0;
      while (!finished) begin
        edge_sample;
        if (s_awready) awvalid = 1'b0;
        if (s_wready) wvalid = 1'b0;
        if (s_bvalid) begin
          awvalid = 1'b0; wvalid = 1'b0; bready = 1'b0; finished = 1'b1;
        end
      end
    end
  endtask

  task axil_read(input [31:0] a, output [31:0] d);
    begin
      arvalid = 1'b1; rready = 1'b1; araddr = a[21:0];
      finished = 1'b0;
      d = 32'd0;
      while (!finished) begin
        edge_sample;
        if (s_arready) arvalid = 1'b0;
        if (s_rvalid) begin
          arvalid = 1'b0; rready = 1'b0; finished = 1'b1; d = s_rdata;
        end
      end
    end
  endtask

  reg [8*1024-1:0] record_path;
  initial begin
    if (!$value$plusargs("record=%s", record_path)) begin
      $display("replay: error: +record=FILE missing");
      $finish;
    end
    if (!$value$plusargs("max_cycles=%d", max_cycles)) max_cycles = 64'd0;
    fd = $fopen(record_path, "r");
    if (fd == 0) begin
      $display("replay: error: %0s: cannot open", record_path);
      $finish;
    end
    repeat (RESET_CYCLES) @(posedge clk);
    @(negedge clk);
    rst_n = 1'b1;
    while (!$feof(fd)) begin
      fields = $fscanf(fd, "%d %h %h\n", op, address, data);
      if (fields == 3) begin
        if (op == OP_WRITE) begin
          axil_write(address, data);
          writes = writes + 1;
        end else if (op == OP_READ) begin
          axil_read(address, got);
          reads = reads + 1;
          if (got !== data) begin
            errors = errors + 1;
            if (errors <= MAX_REPORTED)
              $display("replay: read %0d at 0x%08h returned 0x%08h, the record says 0x%08h",
                       reads, address, got, data);
          end
        end else if (op == OP_IDLE) begin
          repeat (address) edge_sample;
        end else begin
          $display("replay: error: %0s: unknown operation %0d", record_path, op);
          $finish;
        end
      end else if (fields != -1) begin
        $display("replay: error: %0s: expected <op> <hex address> <hex data> per line", record_path);
        $finish;
      end
    end
    $display("replay: done at cycle %0d: %0d writes, %0d reads, %0d errors", cycles, writes, reads,
             errors);
    $finish;
  end
endmodule

`default_nettype wire
