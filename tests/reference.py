"""Numpy references for every GPU building block, written independently of the shaders."""
from __future__ import annotations

import numpy as np

M32 = np.uint64(0xFFFFFFFF)


def _u32(x):
    return np.asarray(x, np.uint64) & M32


def pcg_hash(v):
    state = _u32(_u32(v) * np.uint64(747796405) + np.uint64(2891336453))
    word = _u32(((state >> ((state >> np.uint64(28)) + np.uint64(4))) ^ state) * np.uint64(277803737))
    return _u32((word >> np.uint64(22)) ^ word)


def random_uv(seed: int, step: int, samples: np.ndarray) -> np.ndarray:
    inner = _u32(np.uint64(step) * np.uint64(0x9E3779B9) + pcg_hash(samples))
    h = pcg_hash(_u32(np.uint64(seed) ^ pcg_hash(inner)))
    h2 = pcg_hash(_u32(h + np.uint64(0x68E31DA4)))
    return np.stack([(h >> np.uint64(8)).astype(np.float64), (h2 >> np.uint64(8)).astype(np.float64)], 1) / 16777216.0


def permute_index(i: np.ndarray, n: int, key: int) -> np.ndarray:
    """The seeded bijection of [0, n) stratified sampling walks cells in (written from its definition)."""
    bits = max(n - 1, 1).bit_length()
    mask, shift = np.uint64((1 << bits) - 1), np.uint64(max(bits // 2, 1))
    k1, k2, k3 = (pcg_hash(np.uint64(key + j) & M32) for j in range(3))
    i = _u32(i)
    todo = np.ones(i.shape, bool)
    while todo.any():  # cycle walking: repeat the mixing where the value is still outside [0, n)
        x = i[todo]
        x = (x ^ k1) & mask
        x = _u32(x * np.uint64(0x2C1B3C6D) + k2) & mask
        x ^= x >> shift
        x = _u32(x * np.uint64(0x297A2D39) + k3) & mask
        x ^= x >> shift
        x = _u32(x * np.uint64(0x9E3779B1)) & mask
        x ^= x >> shift
        i[todo] = x
        todo = i >= n
    return i


def stratified_uv(seed: int, step: int, samples: np.ndarray, grid: tuple[int, int, int], batch: int) -> np.ndarray:
    """uvs of stratified sampling: this epoch's shuffled cells, each with a jittered point (12 bits)."""
    gx, gy, steps = grid
    epoch, within = divmod(step - 1, steps)
    key = int(pcg_hash(np.uint64(seed) ^ pcg_hash(np.uint64(epoch + 0x51ED270B))))
    cell = permute_index(within * batch + np.asarray(samples, np.uint64), gx * gy, key).astype(np.int64)
    jitter = (np.floor(random_uv(seed, step, samples) * 4096) + 0.5) / 4096
    return (np.stack([cell % gx, cell // gx], 1) + jitter) / [gx, gy]


def encode(uv: np.ndarray, otype: str, n_frequencies: int = 3, octaves: int = 0, shift: float = 0.0,
           n_bins: int = 0) -> np.ndarray:
    """Encodings, written from their definitions (channel-major feature order)."""
    feats = []
    for c in range(2):
        x = uv[:, c].astype(np.float64)
        if otype == "identity":
            feats.append(x)
        elif otype == "frequency":
            for k in range(n_frequencies):
                feats += [np.sin(np.pi * 2.0 ** k * x), np.cos(np.pi * 2.0 ** k * x)]
        elif otype in ("sin", "tri"):
            for i in range(octaves):
                t = 2.0 ** i * x + i * shift
                if otype == "sin":
                    feats += [np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)]
                else:
                    cos_tri = lambda v: 1 - 4 * np.abs(v - np.round(v))
                    feats += [cos_tri(t - 0.25), cos_tri(t)]
        elif otype == "triangle_wave":
            for j in range(n_frequencies):
                v = x * 2.0 ** (j - 1) + j * 0.25
                feats.append(np.abs(v - np.floor(v) - 0.5) * 4 - 1)
        elif otype == "one_blob":
            def cdf(y):
                u = y * n_bins
                return np.clip(15 / 16 * u * (1 - 2 / 3 * u ** 2 + u ** 4 / 5) + 0.5, 0, 1)
            wrapped = lambda b: cdf(b - x) + cdf(b - x - 1) + cdf(b - x + 1)
            for k in range(n_bins):
                feats.append(wrapped((k + 1) / n_bins) - wrapped(k / n_bins))
        else:
            raise ValueError(otype)
    return np.stack(feats, 1)


def encode_like(uv: np.ndarray, encoding) -> np.ndarray:
    """encode() with the hyperparameters of an app encoding object."""
    return encode(uv, encoding.otype, **{k: v for k, v in encoding.to_config().items() if k != "otype"})


def transform_uv(uv: np.ndarray, transform: str) -> np.ndarray:
    if transform == "flip":
        return uv[:, ::-1].copy()
    if transform == "zoom":
        return uv * 0.5 + 0.25
    return uv


def fetch(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    x = np.minimum((uv[:, 0] * w).astype(np.int64), w - 1)
    y = np.minimum((uv[:, 1] * h).astype(np.int64), h - 1)
    return image[y, x].astype(np.float64)


def act(name: str, x: np.ndarray, alpha: float) -> np.ndarray:
    return {
        "none": lambda: x,
        "relu": lambda: np.maximum(x, 0),
        "leaky_relu": lambda: np.where(x > 0, x, alpha * x),
        "sigmoid": lambda: 1 / (1 + np.exp(-x)),
        "tanh": lambda: np.tanh(x),
        "exp": lambda: np.exp(x),
        "exp2": lambda: np.exp2(x),
        "softplus": lambda: np.log1p(np.exp(x)),
        "silu": lambda: x / (1 + np.exp(-x)),
        "sine": lambda: np.sin(x),
    }[name]()


def act_grad(name: str, x: np.ndarray, alpha: float) -> np.ndarray:
    """Derivative with respect to the pre-activation x."""
    return {
        "none": lambda: np.ones_like(x),
        "relu": lambda: (x > 0).astype(np.float64),
        "leaky_relu": lambda: np.where(x > 0, 1.0, alpha),
        "sigmoid": lambda: act("sigmoid", x, 0) * (1 - act("sigmoid", x, 0)),
        "tanh": lambda: 1 - np.tanh(x) ** 2,
        "exp": lambda: np.exp(x),
        "exp2": lambda: np.log(2) * np.exp2(x),
        "softplus": lambda: 1 / (1 + np.exp(-x)),
        "silu": lambda: (s := 1 / (1 + np.exp(-x))) + x * s * (1 - s),
        "sine": lambda: np.cos(x),
    }[name]()


def loss_and_grad(name: str, p: np.ndarray, t: np.ndarray):
    d = p - t
    if name == "l1":
        return np.abs(d), np.sign(d)
    if name == "relative_l2":
        denom = p * p + 0.01
        return d * d / denom, 2 * d / denom
    return d * d, 2 * d


def forward(layers, x, hidden_act, out_act, alpha):
    """layers: [(W (out x in), b or None)]. Returns outputs and the per-layer (input, pre-activation)."""
    cache = []
    h = x
    for i, (w, b) in enumerate(layers):
        z = h @ w.T.astype(np.float64) + (0 if b is None else b.astype(np.float64))
        cache.append((h, z))
        h = act(out_act if i == len(layers) - 1 else hidden_act, z, alpha)
    return h, cache


def backward(layers, cache, dy, hidden_act, out_act, alpha):
    """Gradients [(dW, db)] of sum(dy * y) by the chain rule."""
    grads = [None] * len(layers)
    d = dy
    for i in reversed(range(len(layers))):
        h, z = cache[i]
        d = d * act_grad(out_act if i == len(layers) - 1 else hidden_act, z, alpha)
        w, b = layers[i]
        grads[i] = (d.T @ h, None if b is None else d.sum(0))
        d = d @ w.astype(np.float64)
    return grads


def adam(w, g, m, v, step, lr, b1, b2, eps, weight_decay=0.0):
    """Adam; with weight_decay, AdamW's decoupled decay (Loshchilov & Hutter)."""
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    mh = m / (1 - b1 ** step)
    vh = v / (1 - b2 ** step)
    return w - lr * (mh / (np.sqrt(vh) + eps) + weight_decay * w), m, v


def rmsprop(w, g, m, v, lr, alpha, eps, momentum=0.0):
    """torch.optim.RMSprop (centered=False): v is the mean square, m the momentum buffer."""
    v = alpha * v + (1 - alpha) * g * g
    m = momentum * m + g / (np.sqrt(v) + eps)
    return w - lr * m, m, v


def optimizer_step(opt, w, g, state, step):
    """One step of an app OptimizerConfig in numpy; state = (m, v)."""
    m, v = state
    lr = opt.learning_rate_at(step)
    g = g + opt.l2_reg * w
    if opt.otype == "sgd":
        m = opt.momentum * m + g
        return w - lr * m, (m, v)
    if opt.otype == "rmsprop":
        w, m, v = rmsprop(w, g, m, v, lr, opt.alpha, opt.epsilon, opt.momentum)
        return w, (m, v)
    decay = opt.weight_decay if opt.otype == "adamw" else 0.0
    w, m, v = adam(w, g, m, v, step, lr, opt.beta1, opt.beta2, opt.epsilon, decay)
    return w, (m, v)


def newton_schulz(u: np.ndarray, steps: int) -> np.ndarray:
    """Muon's orthogonalisation of an update matrix: Frobenius-normalised, wide (transposed when tall),
    then `steps` quintic iterations X <- aX + (bA + cA^2)X with A = XX^T (Keller Jordan's coefficients)."""
    a, b, c = 3.4445, -4.7750, 2.0315
    tall = u.shape[0] > u.shape[1]
    x = u.T if tall else u
    x = x / (np.linalg.norm(x) + 1e-7)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


def muon_step(opt, layout, w, g, state, step):
    """One Muon step on compact parameters: each layer's weight matrix by Muon (Polyak momentum, optional
    Nesterov, Newton-Schulz, shape scale sqrt(max(1, out/in)), decoupled decay); everything else (biases,
    an encoding's table after the MLP's parameters) by the AdamW section."""
    m, v = state
    w_new, (m_new, v_new) = optimizer_step(opt.elementwise, w, g, (m, v), step)
    lr = opt.learning_rate_at(step)
    for entry in layout.compact_offsets():
        o, i, at = entry["outputs"], entry["inputs"], entry["weight_offset"]
        part = slice(at, at + o * i)
        gi = g[part] + opt.l2_reg * w[part]
        m_new[part] = opt.momentum * m[part] + gi
        u = gi + opt.momentum * m_new[part] if opt.nesterov else m_new[part]
        x = newton_schulz(u.reshape(o, i), opt.ns_steps).reshape(-1)
        w_new[part] = w[part] * (1 - lr * opt.weight_decay) - lr * np.sqrt(max(1.0, o / i)) * x
        v_new[part] = v[part]
    return w_new, (m_new, v_new)


HASH_PRIME = np.uint64(2654435761)


def hash_grid_index(level: dict, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Table entry of integer grid vertices (px, py) on one level: dense when it fits, else XOR-of-primes."""
    res, size = level["resolution"], level["size"]
    px, py = px.astype(np.uint64), py.astype(np.uint64)
    if res * res <= size:
        i = px + py * np.uint64(res)
    else:
        i = _u32(px ^ _u32(py * HASH_PRIME))
    return level["offset"] + (i % np.uint64(size)).astype(np.int64)


def hash_grid_corners(uv: np.ndarray, level: dict):
    """(entries (N, 4), bilinear weights (N, 4)) of the four vertices around each uv."""
    pos = uv.astype(np.float32) * np.float32(level["scale"]) + np.float32(0.5)
    cell = np.floor(pos)
    w = (pos - cell).astype(np.float64)
    p = cell.astype(np.int64)
    entries = np.stack([hash_grid_index(level, p[:, 0] + dx, p[:, 1] + dy) for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1))], 1)
    weights = np.stack([(1 - w[:, 0]) * (1 - w[:, 1]), w[:, 0] * (1 - w[:, 1]), (1 - w[:, 0]) * w[:, 1],
                        w[:, 0] * w[:, 1]], 1)
    return entries, weights


def hash_grid_encode(uv: np.ndarray, table: np.ndarray, encoding) -> np.ndarray:
    return table_encode(uv, table, encoding, hash_grid_corners)


def hash_grid_backward(uv: np.ndarray, d_features: np.ndarray, encoding) -> np.ndarray:
    """Table gradient of sum(d_features * features)."""
    return table_backward(uv, d_features, encoding, hash_grid_corners)


def permuto_simplex(p: np.ndarray):
    """Enclosing simplex of 2D points on the A2* permutohedral lattice (Adams et al. 2010), float64.
    Returns (elevated (N,3), vertex keys (N,3,3) in elevated coordinates, barycentric weights (N,3))."""
    n = p.shape[0]
    cf1, cf0 = p[:, 1] / np.sqrt(6), p[:, 0] / np.sqrt(2)
    e = np.stack([cf1 + cf0, cf1 - cf0, -2 * cf1], 1)
    up, down = np.ceil(e / 3) * 3, np.floor(e / 3) * 3
    rem0 = np.where(up - e < e - down, up, down).astype(np.int64)
    total = (rem0 // 3).sum(1)
    diff = e - rem0
    rank = np.zeros((n, 3), np.int64)
    for i in range(2):
        for j in range(i + 1, 3):
            less = diff[:, i] < diff[:, j]
            rank[:, i] += less
            rank[:, j] += ~less
    for i in range(3):
        pos = (total > 0) & (rank[:, i] >= 3 - total)
        neg = (total < 0) & (rank[:, i] < -total)
        rem0[:, i] = np.where(pos, rem0[:, i] - 3, np.where(neg, rem0[:, i] + 3, rem0[:, i]))
        rank[:, i] = np.where(pos, rank[:, i] + total - 3, np.where(neg, rank[:, i] + 3 + total, rank[:, i] + total))
    b = np.zeros((n, 4))
    rows = np.arange(n)
    for i in range(3):
        delta = (e[:, i] - rem0[:, i]) / 3
        np.add.at(b, (rows, 2 - rank[:, i]), delta)
        np.add.at(b, (rows, 3 - rank[:, i]), -delta)
    b[:, 0] += 1 + b[:, 3]
    keys = np.stack([rem0 + k - np.where(rank > 2 - k, 3, 0) for k in range(3)], 1)  # (N, vertex, coord)
    return e, keys, b[:, :3]


def permuto_corners(uv: np.ndarray, level: dict):
    p = uv.astype(np.float32).astype(np.float64) * level["scale"] + np.array(level["shift"])
    _, keys, weights = permuto_simplex(p)
    k0, k1 = _u32(keys[:, :, 0].astype(np.uint64)), _u32(keys[:, :, 1].astype(np.uint64))
    h = _u32(k0 ^ _u32(k1 * HASH_PRIME))
    return level["offset"] + (h % np.uint64(level["size"])).astype(np.int64), weights


def table_encode(uv, table, encoding, corners):
    f = encoding.n_features_per_level
    table = table.reshape(-1, f).astype(np.float64)
    out = []
    for level in encoding.levels():
        entries, weights = corners(uv, level)
        out.append((table[entries] * weights[:, :, None]).sum(1))
    return np.concatenate(out, 1)


def table_backward(uv, d_features, encoding, corners):
    f = encoding.n_features_per_level
    grad = np.zeros((encoding.parameter_count // f, f))
    for l, level in enumerate(encoding.levels()):
        entries, weights = corners(uv, level)
        for k in range(entries.shape[1]):
            np.add.at(grad, entries[:, k], weights[:, k, None] * d_features[:, l * f:(l + 1) * f])
    return grad.reshape(-1)


# ---- network arrays: written from the rules in the README (not from shaders/tiles.slang) ----

def array_training_uv(tiles, blend: bool, seed: int, step: int, stride: int, group: int = 256) -> np.ndarray:
    """uv of each of a batch's ``stride`` samples: workgroup g (``group`` samples) draws inside region
    (g + step * groups) mod R, regions being the tiles, or with blending the quarter tiles, row-major."""
    rx, ry = (2 * tiles[0], 2 * tiles[1]) if blend else tuple(tiles)
    groups = stride // group
    region = (np.arange(stride) // group + step * groups) % (rx * ry)
    unit = random_uv(seed, step, np.arange(stride)).astype(np.float32)
    cell = np.stack([region % rx, region // rx], 1).astype(np.float32)
    return (cell + unit) / np.array([rx, ry], np.float32)


def array_corners(uv: np.ndarray, tiles, blend: bool, local_uv: bool):
    """[(tile index (N,), weight (N,), the uv its network sees (N, 2))] per network a sample uses: the
    tile it lies in, or the four tiles whose centres surround it with bilinear weights (clamped at the
    border, where weights of the same tile add up)."""
    t = np.array(tiles, np.float64)
    uv = uv.astype(np.float64)
    if not blend:
        cell = np.minimum(np.floor(uv * t), t - 1).astype(np.int64)
        corners = [(cell, np.ones(len(uv)))]
    else:
        f = uv * t - 0.5
        base = np.floor(f)
        frac = f - base
        corners = []
        for dy in (0, 1):
            for dx in (0, 1):
                cell = np.clip(base + [dx, dy], 0, t - 1).astype(np.int64)
                w = (frac[:, 0] if dx else 1 - frac[:, 0]) * (frac[:, 1] if dy else 1 - frac[:, 1])
                corners.append((cell, w))
    out = []
    for cell, w in corners:
        seen = uv * t - cell if local_uv else uv
        out.append((cell[:, 1] * tiles[0] + cell[:, 0], w, seen))
    return out


def array_forward(tile_layers, corners, encode_fn, hidden_act, out_act, alpha):
    """Blended outputs and, per corner, (tile index, weight, encoded input, per-sample outputs)."""
    n = len(corners[0][0])
    y = np.zeros((n, 3))
    parts = []
    for tile, w, seen in corners:
        x = encode_fn(seen)
        yc = np.zeros((n, 3))
        for t in np.unique(tile):
            rows = tile == t
            layers = [(W[t], None if b is None else b[t]) for W, b in tile_layers]
            yc[rows], _ = forward(layers, x[rows], hidden_act, out_act, alpha)
        y += w[:, None] * yc
        parts.append((tile, w, x, yc))
    return y, parts


def array_gradients(tile_layers, parts, dy, hidden_act, out_act, alpha):
    """Per tile [(dW, db)] of sum(dy * blended y): each network's share is its blend weight."""
    count = tile_layers[0][0].shape[0]
    grads = [[(np.zeros(W.shape[1:]), None if b is None else np.zeros(b.shape[1:])) for W, b in tile_layers]
             for _ in range(count)]
    for tile, w, x, _ in parts:
        for t in np.unique(tile):
            rows = tile == t
            layers = [(W[t], None if b is None else b[t]) for W, b in tile_layers]
            _, cache = forward(layers, x[rows], hidden_act, out_act, alpha)
            g = backward(layers, cache, dy[rows] * w[rows, None], hidden_act, out_act, alpha)
            grads[t] = [(a[0] + c[0], None if a[1] is None else a[1] + c[1]) for a, c in zip(grads[t], g)]
    return grads


def assert_steps_match(trainer, opt, numpy_step, steps: int = 4, rtol: float = 2e-5, atol: float = 1e-6) -> None:
    """Trains ``steps`` steps with ``opt`` from fresh weights; after each, the weights must equal
    ``numpy_step(w, g, state, step) -> (w, state)`` applied to the gradients the trainer computed."""
    trainer.optimizer = opt
    trainer.reset()
    w = trainer.parameters().astype(np.float64)
    state = (np.zeros_like(w), np.zeros_like(w))
    for step in range(1, steps + 1):
        g = trainer.gradients()
        trainer.train(1)
        w, state = numpy_step(w, g, state, step)
        np.testing.assert_allclose(trainer.parameters(), w, rtol=rtol, atol=atol, err_msg=f"{opt} step {step}")

