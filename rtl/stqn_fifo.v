// stqn_fifo: synchronous FIFO of DEPTH entries (a power of two) with valid/ready on both sides.
// First-word fall-through: the head entry is on out_data_o while out_valid_o is high.
`default_nettype none

module stqn_fifo #(
  parameter integer WIDTH = 32,
  parameter integer DEPTH = 4
) (
  input  wire                     clk_i,
  input  wire                     rst_ni,
  input  wire                     in_valid_i,
  output wire                     in_ready_o,
  input  wire [WIDTH-1:0]         in_data_i,
  output wire                     out_valid_o,
  input  wire                     out_ready_i,
  output wire [WIDTH-1:0]         out_data_o,
  output wire [$clog2(DEPTH):0]   count_o
);
  localparam integer AW = $clog2(DEPTH);

  generate
    if (DEPTH < 2 || (1 << AW) != DEPTH) begin : g_bad_depth
      $error("stqn_fifo: DEPTH must be a power of two >= 2");
    end
  endgenerate

  reg [WIDTH-1:0] mem_q [0:DEPTH-1];
  reg [AW:0]      wr_ptr_q, rd_ptr_q;  // one extra bit tells full from empty

  wire full  = (wr_ptr_q[AW] != rd_ptr_q[AW]) && (wr_ptr_q[AW-1:0] == rd_ptr_q[AW-1:0]);
  wire empty = wr_ptr_q == rd_ptr_q;
  assign in_ready_o  = !full;
  assign out_valid_o = !empty;
  assign out_data_o  = mem_q[rd_ptr_q[AW-1:0]];
  assign count_o     = wr_ptr_q - rd_ptr_q;

  wire        wr_fire  = in_valid_i && !full;
  wire        rd_fire  = out_ready_i && !empty;
  wire [AW:0] wr_ptr_d = wr_ptr_q + {{AW{1'b0}}, wr_fire};
  wire [AW:0] rd_ptr_d = rd_ptr_q + {{AW{1'b0}}, rd_fire};

  always @(posedge clk_i) begin
    if (!rst_ni) begin
      wr_ptr_q <= {(AW + 1){1'b0}};
      rd_ptr_q <= {(AW + 1){1'b0}};
    end else begin
      wr_ptr_q <= wr_ptr_d;
      rd_ptr_q <= rd_ptr_d;
    end
    if (wr_fire) mem_q[wr_ptr_q[AW-1:0]] <= in_data_i;
  end

`ifdef STQN_ASSERT
  stqn_hs_check #(.WIDTH(WIDTH), .NAME("stqn_fifo.in")) u_in_check (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(in_valid_i), .ready_i(in_ready_o), .data_i(in_data_i)
  );
  stqn_hs_check #(.WIDTH(WIDTH), .NAME("stqn_fifo.out")) u_out_check (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(out_valid_o), .ready_i(out_ready_i),
    .data_i(out_data_o)
  );
`endif
endmodule

`default_nettype wire
