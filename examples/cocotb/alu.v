// An 8-bit ALU: the device under test of the cocotb example.
// Built with -DALU_BUG (ALU_BUG=1 in the environment of the build job), subtraction drops
// the borrow into bit 4 when a's top bits are 11 and b is odd: a real corner-case bug that
// some seeds find and others miss.
`timescale 1ns/1ps
module alu (
    input  wire [7:0] a,
    input  wire [7:0] b,
    input  wire [1:0] op,   // 0 add, 1 sub, 2 and, 3 xor
    output reg  [7:0] y
);
    always @* begin
        case (op)
            2'd0: y = a + b;
`ifdef ALU_BUG
            2'd1: y = (a[7:6] == 2'b11 && b[0]) ? {a[7:4] - b[7:4], a[3:0] - b[3:0]} : a - b;
`else
            2'd1: y = a - b;
`endif
            2'd2: y = a & b;
            default: y = a ^ b;
        endcase
    end
endmodule
