# Model of the "cancel" check case (quant_cases.rs: cancel_case) for Q4_K: the relative L2 error of y from the
# single-tf32 min term the imma kernel had before r9 (A truncated to tf32, B rounded), and from x's 8-bit rounding.
import random, struct, math
rnd = random.Random(5)
def f32(v): return struct.unpack('<f', struct.pack('<f', v))[0]
def bits(v): return struct.unpack('<I', struct.pack('<f', v))[0]
def frombits(b): return struct.unpack('<f', struct.pack('<I', b & 0xFFFFFFFF))[0]
def trunc(v): return frombits(bits(v) & ~0x1FFF)
def rna(v): return frombits((bits(v) + 0x1000) & ~0x1FFF)
def f16r(v): return struct.unpack('<e', struct.pack('<e', v))[0]
K, M = 2048, 64
units = K // 32
W = []
i = 0
for r in range(M):
    row = []
    for sb in range(K // 256):
        d = f16r(rnd.uniform(0.5, 1) / (63 * 15)); dmin = f16r(rnd.uniform(0.5, 1) / 63)
        for j in range(8):
            sc = 16 + ((i * 8 + j) * 37 % 48)
            mn = min(63, max(0, round(7.5 * sc * d / dmin)))
            row.append((d, sc, dmin, mn, [rnd.randrange(16) for _ in range(32)]))
        i += 1
    W.append(row)
def run(x):
    X = []
    for u in range(units):
        v = x[32*u:32*u+32]; amax = max(abs(a) for a in v); dx = f32(amax / 127)
        X.append((dx, [round(a * 127 / amax) for a in v]))
    e_old = e_new = e_xr = ref = 0.0
    for row in W:
        exact = old = xr = 0.0
        for u, (d, sc, dmin, mn, qs) in enumerate(row):
            dx, xq = X[u]; s = sum(xq)
            st = d * sc * dx * sum(a*b for a, b in zip(qs, xq)); me = -dmin * mn * dx * s
            exact += st + me; old += st + trunc(f32(-dmin * mn)) * rna(f32(dx * s))
            xr += sum((d*sc*q - dmin*mn) * xv for q, xv in zip(qs, x[32*u:32*u+32]))
        e_old += (old - exact)**2; e_xr += (exact - xr)**2; ref += xr**2
    return math.sqrt(e_old/ref), math.sqrt(e_xr/ref)
x = [1.0 + rnd.gauss(0, 1) for _ in range(K)]
print('old tf32 min term error, x-rounding error:', run(x))
