// stqn_hs_check: simulation-only checker of the valid/ready contract on one stream: once valid is
// high and the beat has not moved, valid must stay high and data must not change.
// Instantiate it only inside `ifdef STQN_ASSERT (Verilator --assert builds define STQN_ASSERT).
`default_nettype none

module stqn_hs_check #(
  parameter integer WIDTH = 1,
  parameter         NAME  = "stream"
) (
  input wire             clk_i,
  input wire             rst_ni,
  input wire             valid_i,
  input wire             ready_i,
  input wire [WIDTH-1:0] data_i
);
  reg             pending_q;  // a beat was offered last cycle and did not move
  reg [WIDTH-1:0] data_q;
  wire            pending_d = valid_i && !ready_i;

  always @(posedge clk_i) begin
    if (!rst_ni) pending_q <= 1'b0;
    else         pending_q <= pending_d;
    data_q <= data_i;
  end

  always @(posedge clk_i) begin
    if (rst_ni && pending_q && !valid_i) $error("%s: valid dropped before the beat moved", NAME);
    if (rst_ni && pending_q && valid_i && data_i != data_q)
      $error("%s: data changed while valid and not ready", NAME);
  end
endmodule

`default_nettype wire
