"""plugins/common/numeric.h, as compiled, agrees bit for bit with numpy and pykit.precision."""
import numpy as np

from pykit.precision import numerics


def test_half_to_float_all_65536_patterns(host):
    bits = np.arange(65536, dtype=np.uint16)
    want = bits.view(np.float16).astype(np.float32)
    got = host.half_bits_to_float(bits)
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    assert same.all()


def test_float_to_half_matches_numpy_rounding(host, rng):
    edges = np.array([0.0, -0.0, 65504.0, 65519.99, 65520.0, -65520.0, np.inf, -np.inf, 2.0**-24, 2.0**-25,
                      1.5 * 2.0**-25, 2.0**-14, 2.0**-14 - 2.0**-25, 1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 1e-8, 7e4],
                     dtype=np.float32)
    # every half value's neighbourhood: exact halves, ties, and just either side of ties
    halves = np.arange(0, 0x7C00, 7, dtype=np.uint16).view(np.float16).astype(np.float32)
    ties = np.nextafter(halves, np.float32(np.inf))
    x = np.concatenate([edges, halves, -halves, ties, rng.standard_normal(20000).astype(np.float32) * 1000,
                        (rng.random(20000) * 2.0**-14).astype(np.float32)])
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.concatenate([x, (x[:-1] + x[1:]) / 2]).astype(np.float32)
        want = x.astype(np.float16).view(np.uint16)
    got = host.float_to_half_bits(x)
    assert np.array_equal(got, want), x[got != want][:5]
    assert host.float_to_half_bits(np.array([np.nan], np.float32))[0] & 0x7FFF > 0x7C00


def test_int8_quantization_matches_numpy_contract(host, rng):
    scale = 0.05
    ties = (np.arange(-130, 131) + 0.5) * scale  # x/s lands on .5: round half to even
    x = np.concatenate([ties, rng.standard_normal(10000) * 4, [0.0, 1e9, -1e9]]).astype(np.float32)
    got = host.quantize_int8(x, scale)
    assert np.array_equal(got, numerics.quantize_int8(x, scale))
    assert got.min() == -127 and got.max() == 127  # narrow range
    assert host.quantize_int8(np.array([2.5 * scale], np.float32), scale)[0] == 2  # tie to even
