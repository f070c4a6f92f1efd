"""cocotb tests of alu.v: random operands from the seed cocotb is given (RANDOM_SEED)."""

import random

import cocotb
from cocotb.triggers import Timer

OPS = {"add": 0, "sub": 1, "and": 2, "xor": 3}
MODEL = {
    "add": lambda a, b: (a + b) & 0xFF,
    "sub": lambda a, b: (a - b) & 0xFF,
    "and": lambda a, b: a & b,
    "xor": lambda a, b: a ^ b,
}


async def check(dut, name: str, rounds: int = 8) -> None:
    for _ in range(rounds):
        a, b = random.randrange(256), random.randrange(256)
        dut.a.value, dut.b.value, dut.op.value = a, b, OPS[name]
        await Timer(1, unit="ns")
        got, want = int(dut.y.value), MODEL[name](a, b)
        assert got == want, f"{name}({a:#04x}, {b:#04x}) = {got:#04x}, expected {want:#04x}"
    print(f"GATOR_METRIC {name}_checks={rounds}")


@cocotb.test()
async def test_add(dut):
    await check(dut, "add")


@cocotb.test()
async def test_sub(dut):
    await check(dut, "sub")


@cocotb.test()
async def test_logic(dut):
    await check(dut, "and")
    await check(dut, "xor")
