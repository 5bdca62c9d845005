"""Exports (RTXNS .bin and JSON, Slang, HLSL, npz, JSON) and imports of RTXNS files: byte layout, exact
round trips, numpy forward passes written from the files alone, shaders run with slangpy, every refusal."""
import json
import struct
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from app.errors import StudioError
from app.formats import export_weights
from app.export.imports import ImportOptions
from app.formats import open_network, read_network
from app.export.layouts import convert, device_placement, pack, unpack
from app.export.rtxns_bin import encode_rtxns, rtxns_network
from app.export.sidecar import sidecar_path
from app.preset import load_preset
from app.trainer import Trainer
from app.network_file import WeightsFile
from app.weights_io import save_weights

VERSION = 0xA1C0DE01
W, H = 24, 16  # image size of every comparison


# ---------- helpers written from the format descriptions, independent of app/export ----------

def align64(n):
    return (n + 63) // 64 * 64


def parse_rtxns(data: bytes) -> dict:
    """Reads an RTXNS network file at the offsets of NetworkFileHeader (NeuralNetwork.cpp)."""
    version, = struct.unpack_from("<I", data, 0)
    hidden_layers, inputs, hidden, outputs, wprec, bprec = struct.unpack_from("<IIIIii", data, 4)
    records = [struct.unpack_from("<IIQQII", data, 32 + 32 * l) for l in range(8)]
    layout, = struct.unpack_from("<i", data, 288)
    data_size, = struct.unpack_from("<Q", data, 296)
    params = data[304:]
    layers = []
    for l in range(hidden_layers + 1):
        n_in, n_out, wsize, bsize, woff, boff = records[l]
        flat = np.frombuffer(params, "<f2", n_in * n_out, woff).astype(np.float64)
        w = flat.reshape(n_out, n_in) if layout == 0 else flat.reshape(n_in, n_out).T
        layers.append((w, np.frombuffer(params, "<f2", n_out, boff).astype(np.float64)))
    return dict(version=version, arch=(hidden_layers, inputs, hidden, outputs, wprec, bprec), records=records,
                layout=layout, data_size=data_size, layers=layers, length=len(data))


def rtxns_host_layout(inputs, hidden, outputs, hidden_layers):
    """Expected NetworkLayer records, as CreateHostNetworkLayout + SetNetworkLayerSizes compute them."""
    out, offset = [], 0
    for l in range(hidden_layers + 1):
        n_in = inputs if l == 0 else hidden
        n_out = outputs if l == hidden_layers else hidden
        woff = align64(offset)
        boff = align64(woff + n_in * n_out * 2)
        offset = boff + n_out * 2
        out.append((n_in, n_out, n_in * n_out * 2, n_out * 2, woff, boff))
    return out, align64(offset)


def half(x):
    return np.asarray(x, np.float32).astype(np.float16).astype(np.float64)


def encode_frequency_rtxns(uv):
    """RTXNS EncodeFrequency per input: sin(pi x), cos(pi x), sin(2 pi x), cos(2 pi x), sin(4 pi x), cos(4 pi x)."""
    cols = []
    for c in range(2):
        for k in (1, 2, 4):
            cols += [np.sin(k * np.pi * uv[:, c]), np.cos(k * np.pi * uv[:, c])]
    return np.stack(cols, 1)


def forward(layers, x, hidden, output, alpha=0.01, storage=None):
    acts = {"leaky_relu": lambda z: np.where(z > 0, z, alpha * z), "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
            "none": lambda z: z, "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}
    store = storage or (lambda v: v)
    x = store(x)
    for l, (w, b) in enumerate(layers):
        z = x @ np.asarray(w, np.float64).T + (0 if b is None else np.asarray(b, np.float64))
        x = store(acts[output if l == len(layers) - 1 else hidden](z))
    return x


def same_float16_network(shader, numpy_float16):
    """The shader computes the float16 network of the numpy reference: almost every output is identical,
    the rest (a float32-vs-float64 difference tipping a rounding to float16) one float16 step away."""
    assert np.mean(shader == numpy_float16) > 0.99
    np.testing.assert_allclose(shader, numpy_float16, atol=2.0 ** -11, rtol=0)


def pixel_uv(w=W, h=H):
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([(xs + 0.5) / w, (ys + 0.5) / h], -1).reshape(-1, 2)


def infer(device, weights, size=(W, H)):
    trainer = Trainer(device, None, weights.preset)
    trainer.set_parameters(weights.parameters)
    return trainer.prediction(size)


def with_network(preset, **changes):
    return replace(preset, network=replace(preset.network, **changes))


# ---------- fixtures ----------

@pytest.fixture(scope="module")
def rtxns_trained(device, small_image):
    """The rtxns-simple-training network (12 -> 4 x 64 -> 3, float16) after a few training steps."""
    preset = load_preset("rtxns-simple-training").with_training(batch_size=512)
    trainer = Trainer(device, small_image, preset)
    trainer.train(20)
    return WeightsFile(preset, trainer.parameters(), (16, 16), "none", {"steps": 20})


@pytest.fixture(scope="module")
def rtxns_exact(rtxns_trained):
    """The same network with float16 values in its master copy (as a network loaded from RTXNS is)."""
    params = rtxns_trained.parameters.astype(np.float16).astype(np.float32)
    return replace(rtxns_trained, parameters=params)


def random_weights(device, preset, scale=0.4, seed=3):
    trainer = Trainer(device, None, preset)
    params = np.random.default_rng(seed).normal(0, scale, trainer.layout.parameter_count).astype(np.float32)
    return WeightsFile(preset, params, (W, H))


# ---------- RTXNS binary ----------

def test_rtxns_bin_has_the_byte_layout_rtxns_loads(rtxns_trained, tmp_path):
    out = tmp_path / "net.bin"
    written = export_weights(rtxns_trained, "rtxns", out)
    assert written == [out, sidecar_path(out)]
    f = parse_rtxns(out.read_bytes())
    assert f["version"] == VERSION
    assert f["arch"] == (4, 12, 64, 3, 0, 0)
    expected, total = rtxns_host_layout(12, 64, 3, 4)
    assert f["records"][:5] == expected
    assert all(r == (0,) * 6 for r in f["records"][5:])
    assert all(r[4] % 64 == 0 and r[5] % 64 == 0 for r in expected)
    assert f["layout"] == 0 and f["data_size"] == total and f["length"] == 304 + total
    # the parameters are the network's, rounded to float16 (nearest, ties to even)
    compact = np.concatenate([np.concatenate([w.reshape(-1), b]) for w, b in f["layers"]])
    np.testing.assert_array_equal(compact, half(rtxns_trained.parameters))


def test_numpy_forward_from_the_rtxns_bytes_alone_reproduces_infer(device, rtxns_exact, tmp_path):
    out = tmp_path / "net.bin"
    export_weights(rtxns_exact, "rtxns", out)
    f = parse_rtxns(out.read_bytes())
    # RTXNS Simple Training: EncodeFrequency, LeakyReLU(0.01), Sigmoid; values stored as float16
    mine = forward(f["layers"], encode_frequency_rtxns(pixel_uv()), "leaky_relu", "sigmoid", storage=half)
    image = infer(device, rtxns_exact).reshape(-1, 3)
    np.testing.assert_allclose(mine, image, atol=1e-3, rtol=0)


def test_own_to_rtxns_to_import_to_infer_is_exact(device, rtxns_exact, tmp_path):
    out = tmp_path / "net.bin"
    export_weights(rtxns_exact, "rtxns", out)
    back = open_network(out)
    assert any("read from net.bin.encoding.json" in n for n in back.notes)
    np.testing.assert_array_equal(back.parameters, rtxns_exact.parameters)
    assert (back.preset.encoding, back.preset.network) == (rtxns_exact.preset.encoding, rtxns_exact.preset.network)
    assert back.texture_size == (16, 16)
    image = infer(device, rtxns_exact)
    np.testing.assert_array_equal(infer(device, back), image)
    # without its sidecar: the RTXNS assumptions (12 inputs) give the same network, and say so
    sidecar_path(out).unlink()
    bare = open_network(out)
    assert any("assumed RTXNS EncodeFrequency" in n for n in bare.notes)
    assert any("assumed RTXNS Simple Training's" in n for n in bare.notes)
    assert bare.preset.encoding.to_config() == {"otype": "frequency", "n_frequencies": 3}
    assert (bare.preset.network.activation, bare.preset.network.output_activation) == ("leaky_relu", "sigmoid")
    assert bare.preset.network.precision == "float16" and bare.texture_size == (0, 0)
    np.testing.assert_array_equal(infer(device, bare), image)


def test_freshly_trained_network_round_trips_exactly(device, rtxns_trained, tmp_path):
    # infer rounds the float32 masters to the nearest float16 as the export does, on every device
    out = tmp_path / "net.bin"
    export_weights(rtxns_trained, "rtxns", out)
    np.testing.assert_array_equal(infer(device, open_network(out)), infer(device, rtxns_trained))


def test_export_rounds_float32_masters_to_nearest_float16(rtxns_trained, tmp_path):
    out = tmp_path / "net.bin"
    export_weights(rtxns_trained, "rtxns", out)
    np.testing.assert_array_equal(open_network(out).parameters,
                                  rtxns_trained.parameters.astype(np.float16).astype(np.float32))


def test_column_major_file_round_trips(rtxns_exact, tmp_path):
    out = tmp_path / "cm.bin"
    export_weights(rtxns_exact, "rtxns", out, layout="column-major")
    f = parse_rtxns(out.read_bytes())
    assert f["layout"] == 1
    row_major = parse_rtxns(encode_rtxns(rtxns_network(rtxns_exact)))
    for (w1, b1), (w2, b2) in zip(f["layers"], row_major["layers"]):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(b1, b2)
    np.testing.assert_array_equal(open_network(out).parameters, rtxns_exact.parameters)


def test_files_written_by_earlier_rtxns_releases_load(rtxns_exact):
    """RTXNS 1.0 did not pad the data to 64 bytes at the end (its disney.ns.bin ends at the last bias)."""
    data = bytearray(encode_rtxns(rtxns_network(rtxns_exact)))
    end = parse_rtxns(bytes(data))["records"][4]
    end = end[5] + end[3]
    struct.pack_into("<Q", data, 296, end)
    data[28:32] = data[292:296] = b"\xcc" * 4  # MSVC leaves the padding uninitialised
    back = read_network(bytes(data[:304 + end]), "old.bin")
    np.testing.assert_array_equal(back.parameters, rtxns_exact.parameters)


def test_files_with_16_byte_aligned_biases_load(device):
    """RTXNS 1.0-1.2.0 aligned biases to 16 bytes; with 12 inputs x 20 hidden that differs from 64."""
    weights = random_weights(device, with_network(load_preset("rtxns-simple-training"), n_neurons=20,
                                                  n_hidden_layers=1, precision="float16"))
    layers = [(w.astype("<f2"), b.astype("<f2")) for w, b in weights.layout.layers_of(half(weights.parameters))]
    header, blob, at = bytearray(304), bytearray(), 0
    struct.pack_into("<IIIIIii", header, 0, VERSION, 1, 12, 20, 3, 0, 0)
    for l, (w, b) in enumerate(layers):
        woff = align64(at)
        boff = (woff + w.nbytes + 15) // 16 * 16
        blob += bytes(woff - len(blob)) + w.tobytes() + bytes(boff - woff - w.nbytes) + b.tobytes()
        at = boff + b.nbytes
        struct.pack_into("<IIQQII", header, 32 + 32 * l, w.shape[1], w.shape[0], w.nbytes, b.nbytes, woff, boff)
    assert struct.unpack_from("<I", header, 32 + 28)[0] == 480  # not 512
    struct.pack_into("<Q", header, 296, len(blob))
    back = read_network(bytes(header + blob), "v1.bin")
    np.testing.assert_array_equal(back.parameters, half(weights.parameters))


def test_rtxns_import_options_and_other_input_counts(device, tmp_path):
    from app.encodings import encoding_from_config
    preset = with_network(load_preset("rtxns-simple-training"), n_hidden_layers=1, n_neurons=16)
    preset = replace(preset, encoding=encoding_from_config({"otype": "frequency", "n_frequencies": 2}))
    weights = random_weights(device, preset)
    data = encode_rtxns(rtxns_network(weights))  # 8 inputs: not RTXNS's 12
    with pytest.raises(StudioError, match=r"n8.bin has 8 inputs and records no input encoding; pass --encoding"):
        read_network(data, "n8.bin")
    with pytest.raises(StudioError, match="--encoding: encoding frequency gives 12 inputs, but n8.bin has 8"):
        read_network(data, "n8.bin", ImportOptions(encoding="frequency:3"))
    back = read_network(data, "n8.bin", ImportOptions(encoding="frequency:2", activation="tanh",
                                                      output_activation="none"))
    assert back.preset.encoding.output_dims == 8
    assert (back.preset.network.activation, back.preset.network.output_activation) == ("tanh", "none")
    assert not any("assumed" in n for n in back.notes)
    json_spec = read_network(data, "n8.bin", ImportOptions(encoding='{"otype": "frequency", "n_frequencies": 2}'))
    assert json_spec.preset.encoding == back.preset.encoding


def test_stale_or_broken_sidecar_is_refused(rtxns_exact, tmp_path):
    out = tmp_path / "net.bin"
    export_weights(rtxns_exact, "rtxns", out)
    side = sidecar_path(out)
    doc = json.loads(side.read_text())
    data = bytearray(out.read_bytes())
    data[400] ^= 1  # another network now
    out.write_bytes(bytes(data))
    with pytest.raises(StudioError, match=r"net.bin.encoding.json describes a different network file than net.bin"):
        open_network(out)
    # complete options bypass the sidecar
    opts = ImportOptions(encoding="frequency", activation="leaky_relu", output_activation="sigmoid")
    assert open_network(out, opts).preset.encoding.output_dims == 12
    side.write_text("{not json")
    with pytest.raises(StudioError, match="is not valid JSON"):
        open_network(out)
    doc["network_sha256"] = __import__("hashlib").sha256(bytes(data)).hexdigest()
    doc["network"]["activation"] = "wobbly"
    side.write_text(json.dumps(doc))
    with pytest.raises(StudioError, match="net.bin.encoding.json: network.activation: unknown activation 'wobbly'"):
        open_network(out)


def make_bin(weights):
    return bytearray(encode_rtxns(rtxns_network(weights)))


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d[:200], r"x.bin is truncated: an RTXNS header is 304 bytes, the file has 200"),
    (lambda d: d[:-10], r"x.bin is truncated: its header promises \d+ bytes of parameters, the file has \d+"),
    (lambda d: d + b"\0" * 7, r"x.bin has 7 unexpected bytes after its \d+ bytes of parameters"),
    (lambda d: b"\x02" + d[1:], r"x.bin is an RTXNS network file of version 0xA1C0DE02, which this build cannot read"),
    (lambda d: b"GIF8" + d[4:], None),
    (lambda d: set_u32(d, 4, 8), r"x.bin declares 8 hidden layers; RTXNS networks have at most 8 layers"),
    (lambda d: set_u32(d, 12, 0), r"x.bin declares a zero neuron count \(inputs 12, hidden 0, outputs 3\)"),
    (lambda d: set_u32(d, 20, 1), r"x.bin declares float32 weight precision 1; RTXNS network files hold float16"),
    (lambda d: set_u32(d, 24, 7), r"x.bin declares bias precision 7; RTXNS network files hold float16"),
    (lambda d: set_u32(d, 288, 2), r"device-specific inferencing_optimal layout, which only the GPU"),
    (lambda d: set_u32(d, 288, 9), r"x.bin declares an invalid matrix layout 9 \(0-3 are defined\)"),
    (lambda d: set_u32(d, 32 + 32, 63), r"x.bin: layer 1 is 63 inputs x 64 outputs, but the architecture says 64 x 64"),
    (lambda d: set_u32(d, 32 + 8, 100), r"x.bin: layer 0 declares 100 weight and 128 bias bytes; a float16 64 x 12"),
    (lambda d: set_u32(d, 32 + 28, 1600), r"x.bin: layer 0's weights and biases sit at bytes 0 and 1600; RTXNS's"),
    (lambda d: set_u32(d, 32 + 5 * 32, 1), r"x.bin: unused layer record 5 is not zero"),
    (lambda d: set_u64(d, 296, 10 ** 12), r"x.bin declares 1000000000000 bytes of parameters, more than any RTXNS"),
    (lambda d: put_half(d, 304 + 2, np.nan), r"x.bin: layer 0's weights contain NaN or infinite values"),
])
def test_rtxns_bin_refusals(rtxns_exact, mutate, message):
    data = bytes(mutate(make_bin(rtxns_exact)))
    with pytest.raises(StudioError) as err:
        read_network(data, "x.bin")
    if message is None:
        assert "neither a Neural Texture Studio weights file nor an RTXNS network" in str(err.value)
    else:
        assert __import__("re").search(message, str(err.value)), str(err.value)


def set_u32(d, at, value):
    struct.pack_into("<I", d, at, value)
    return d


def set_u64(d, at, value):
    struct.pack_into("<Q", d, at, value)
    return d


def put_half(d, at, value):
    d[at:at + 2] = np.float16(value).tobytes()
    return d


def test_rtxns_networks_the_app_cannot_hold_are_refused(device):
    from app.export.layouts import pack as pack_layers
    from app.export.rtxns_bin import RtxnsNetwork
    rng = np.random.default_rng(0)

    def net(inputs, hidden, outputs, hidden_layers):
        shapes = [(outputs if l == hidden_layers else hidden, inputs if l == 0 else hidden)
                  for l in range(hidden_layers + 1)]
        layers = [(rng.normal(0, 0.1, s).astype(np.float16), np.zeros(s[0], np.float16)) for s in shapes]
        return encode_rtxns(RtxnsNetwork(hidden_layers, inputs, hidden, outputs, pack_layers(layers)))

    with pytest.raises(StudioError, match=r"disney.bin has 4 outputs; Neural Texture Studio networks output RGB \(3\)"):
        read_network(net(30, 32, 4, 3), "disney.bin")
    with pytest.raises(StudioError, match=r"wide.bin cannot be used here: network.n_neurons = 256 is out of range"):
        read_network(net(12, 256, 3, 1), "wide.bin")
    with pytest.raises(StudioError, match="flat.bin has a single layer"):
        read_network(net(12, 16, 3, 0), "flat.bin")


# ---------- what RTXNS cannot express ----------

def test_export_refusals_say_why(device, rtxns_trained, tmp_path):
    deep_w = random_weights(device, with_network(load_preset("rtxns-simple-training"), n_hidden_layers=8, n_neurons=16))
    with pytest.raises(StudioError, match=r"cannot export to RTXNS: it has 9 layers \(8 hidden \+ output\) and RTXNS "
                                          r"networks have at most 8 \(use at most 7 hidden layers\)"):
        export_weights(deep_w, "rtxns", tmp_path / "deep.bin")
    f32 = random_weights(device, with_network(load_preset("rtxns-simple-training"), precision="float32", n_neurons=16))
    for fmt in ("rtxns", "rtxns-json"):
        with pytest.raises(StudioError, match="it is a float32 network and RTXNS networks are float16: train it with "
                                              "precision float16 .* or pass --round-float16"):
            export_weights(f32, fmt, tmp_path / "f32.out")
    export_weights(f32, "rtxns", tmp_path / "f32.bin", round_float16=True)
    np.testing.assert_array_equal(open_network(tmp_path / "f32.bin").parameters, half(f32.parameters))
    huge = replace(rtxns_trained, parameters=rtxns_trained.parameters.copy())
    huge.parameters[5] = 1e5
    with pytest.raises(StudioError, match=r"the network has a parameter of magnitude 100000, beyond float16's range"):
        export_weights(huge, "rtxns", tmp_path / "huge.bin")
    with pytest.raises(StudioError, match=r"files always carry a portable layout .* not inferencing_optimal"):
        export_weights(rtxns_trained, "rtxns", tmp_path / "o.bin", layout="inferencing-optimal")
    with pytest.raises(StudioError, match="--arrays does not apply to --format rtxns"):
        export_weights(rtxns_trained, "rtxns", tmp_path / "a.bin", arrays="base64")
    with pytest.raises(StudioError, match="unknown export format 'onnx'"):
        export_weights(rtxns_trained, "onnx", tmp_path / "a.onnx")
    with pytest.raises(StudioError, match="its folder does not exist"):
        export_weights(rtxns_trained, "rtxns", tmp_path / "missing" / "a.bin")
    assert not list(tmp_path.glob("*.out")) and not (tmp_path / "deep.bin").exists()


# ---------- RTXNS JSON ----------

def test_rtxns_json_is_the_samples_schema_and_round_trips(device, rtxns_exact, tmp_path):
    out = tmp_path / "weights.json"
    export_weights(rtxns_exact, "rtxns-json", out)
    doc = json.loads(out.read_text())
    assert list(doc) == ["layers"] and len(doc["layers"]) == 5
    first = doc["layers"][0]
    assert list(first) == ["num_inputs", "num_outputs", "weights", "biases"]
    assert (first["num_inputs"], first["num_outputs"], len(first["weights"]), len(first["biases"])) == (12, 64, 768, 64)
    layers = [(np.array(l["weights"]).reshape(l["num_outputs"], l["num_inputs"]), np.array(l["biases"]))
              for l in doc["layers"]]
    mine = forward(layers, encode_frequency_rtxns(pixel_uv()), "leaky_relu", "sigmoid", storage=half)
    np.testing.assert_allclose(mine, infer(device, rtxns_exact).reshape(-1, 3), atol=1e-3, rtol=0)
    back = open_network(out)
    np.testing.assert_array_equal(back.parameters, rtxns_exact.parameters)
    assert back.preset.network.precision == "float16"


def test_rtxns_json_with_float32_values_imports_as_float32(tmp_path):
    rng = np.random.default_rng(1)
    layers = [{"num_inputs": 12, "num_outputs": 16, "weights": rng.normal(0, 0.3, 192).tolist(),
               "biases": [0.1] * 16},
              {"num_inputs": 16, "num_outputs": 3, "weights": rng.normal(0, 0.3, 48).tolist(), "biases": [0, 0, 0]}]
    path = tmp_path / "slangpy.json"
    path.write_text(json.dumps({"layers": layers}))
    back = open_network(path)
    assert back.preset.network.precision == "float32"
    assert any("imported as a float32 network" in n for n in back.notes)


@pytest.mark.parametrize("doc,message", [
    ('{"layers": [1, 2', r"j.json is not valid JSON"),
    ("[1, 2]", r"j.json is neither a Neural Texture Studio weights file nor an RTXNS network"),
    ('{"layers": []}', r"j.json has an empty \"layers\" list"),
    ('{"weights": []}', r"j.json is not an RTXNS network description \(no \"layers\" list\)"),
    ('{"layers": [{"num_inputs": 2, "num_outputs": 3, "weights": [1], "biases": [0, 0, 0]}]}',
     r"j.json: layers\[0\].weights has 1 values, not 6 \(3 outputs x 2 inputs\)"),
    ('{"layers": [{"num_inputs": true, "num_outputs": 3}]}', r"layers\[0\].num_inputs must be an integer"),
    ('{"layers": [{"num_inputs": 0, "num_outputs": 3}]}', r"layers\[0\].num_inputs = 0 is out of range"),
    ('{"layers": [{"num_inputs": 1, "num_outputs": 1, "weights": ["a"], "biases": [0]}]}',
     r"layers\[0\].weights\[0\] is not a number"),
    ('{"layers": [{"num_inputs": 1, "num_outputs": 1, "weights": [1e999], "biases": [0]}]}',
     r"layers\[0\].weights holds a value that is not a finite float32"),
    ('{"layers": [{"num_inputs": 1, "num_outputs": 2, "weights": [1, 2], "biases": [0, 0]},'
     ' {"num_inputs": 3, "num_outputs": 3, "weights": [0,0,0,0,0,0,0,0,0], "biases": [0, 0, 0]}]}',
     r"layers\[1\] has 3 inputs but the layer before it has 2 outputs"),
    ('{"layers": [{"num_inputs": 12, "num_outputs": 16, "weights": %s, "biases": %s},'
     ' {"num_inputs": 16, "num_outputs": 8, "weights": %s, "biases": %s},'
     ' {"num_inputs": 8, "num_outputs": 3, "weights": %s, "biases": [0, 0, 0]}]}'
     % ([0] * 192, [0] * 16, [0] * 128, [0] * 8, [0] * 24),
     r"j.json has hidden layers of different widths \(8, 16\)"),
    ('{"format": "neural-texture-studio-rtxns-sidecar"}', r"j.json is an encoding sidecar"),
    ('{"layers": ' + "[" * 100000, r"j.json is not valid JSON"),
])
def test_rtxns_json_refusals(doc, message):
    with pytest.raises(StudioError, match=message):
        read_network(doc.encode(), "j.json")


# ---------- shaders ----------

def run_slang(device, path_or_source, uv):
    import slangpy as spy
    module = spy.Module.load_from_file(device, str(path_or_source))
    return module.evaluate(uv.astype(np.float32), _result="numpy")


@pytest.fixture(scope="module")
def rtxns_small(device, small_image):
    """The rtxns-simple-training network at width 16 (a few seconds to compile; the full network's
    constants-mode test below takes longer), trained a few steps."""
    preset = with_network(load_preset("rtxns-simple-training"), n_neurons=16).with_training(batch_size=512)
    trainer = Trainer(device, small_image, preset)
    trainer.train(30)
    return WeightsFile(preset, trainer.parameters(), (16, 16))


def test_slang_module_reproduces_infer_float16(device, rtxns_small, tmp_path):
    out = tmp_path / "net.slang"
    export_weights(rtxns_small, "slang", out)
    text = out.read_text()
    assert "#include" not in text and "import " not in text and "float3 evaluate(float2 uv)" in text
    uv = pixel_uv()
    got = run_slang(device, out, uv)
    np.testing.assert_allclose(got, infer(device, rtxns_small).reshape(-1, 3), atol=1e-3, rtol=0)
    # the shader computes exactly the float16 network (nearest-even rounding) that RTXNS describes
    trainer_layers = Trainer(device, None, rtxns_small.preset).layout.layers_of(half(rtxns_small.parameters))
    mine = forward(trainer_layers, encode_frequency_rtxns(uv), "leaky_relu", "sigmoid", storage=half)
    same_float16_network(got, mine)


@pytest.mark.parametrize("encoding,hidden,output", [
    ({"otype": "frequency", "n_frequencies": 2}, "relu", "none"),
    ({"otype": "one_blob", "n_bins": 8}, "tanh", "sigmoid"),
    ({"otype": "sin", "octaves": 3, "shift": 0.25}, "softplus", "silu"),
    ({"otype": "tri", "octaves": 2, "shift": 0.5}, "sine", "exp2"),
    ({"otype": "triangle_wave", "n_frequencies": 3}, "leaky_relu", "exp"),
    ({"otype": "identity"}, "silu", "tanh"),
])
def test_slang_module_reproduces_infer_float32(device, tmp_path, encoding, hidden, output):
    from app.encodings import encoding_from_config
    preset = replace(load_preset("rtxns-simple-training"), encoding=encoding_from_config(dict(encoding)))
    preset = with_network(preset, n_neurons=16, n_hidden_layers=1, precision="float32", activation=hidden,
                          output_activation=output, leaky_relu_alpha=0.05)
    weights = random_weights(device, preset, scale=0.3)
    out = tmp_path / "f32.slang"
    export_weights(weights, "slang", out)
    np.testing.assert_allclose(run_slang(device, out, pixel_uv()), infer(device, weights).reshape(-1, 3),
                               atol=1e-5, rtol=1e-5)


def test_no_bias_network_exports(device, tmp_path):
    preset = with_network(load_preset("rtxns-simple-training"), n_neurons=16, n_hidden_layers=1, bias=False,
                          precision="float32")
    weights = random_weights(device, preset)
    out = tmp_path / "nb.slang"
    export_weights(weights, "slang", out)
    assert "NTS_B0" not in out.read_text()
    np.testing.assert_allclose(run_slang(device, out, pixel_uv()), infer(device, weights).reshape(-1, 3), atol=1e-5)
    export_weights(weights, "rtxns", tmp_path / "nb.bin", round_float16=True)  # zero biases are exact
    assert not parse_rtxns((tmp_path / "nb.bin").read_bytes())["layers"][0][1].any()


def run_hlsl(device, path, buffers=None):
    """Compiles the HLSL file with Slang and runs its example entry point over a W x H texture."""
    import slangpy as spy
    session = device.create_slang_session(compiler_options={"defines": {"NTS_EXAMPLE_ENTRY": "1"}})
    module = session.load_module_from_source(f"nts_exported_{path.stem}", path.read_text(), str(path))
    kernel = device.create_compute_kernel(session.link_program([module], [module.entry_point("nts_render")]))
    tex = device.create_texture(format=spy.Format.rgba32_float, width=W, height=H,
                                usage=spy.TextureUsage.unordered_access | spy.TextureUsage.shader_resource)
    kernel.dispatch(thread_count=[W, H, 1], vars={"nts_output": tex, **(buffers or {})})
    device.wait_for_idle()
    return tex.to_numpy()[:, :, :3]


def test_hlsl_export_compiles_and_reproduces_infer(device, rtxns_small, tmp_path):
    import slangpy as spy
    out = tmp_path / "net.hlsl"
    export_weights(rtxns_small, "hlsl", out)
    assert not __import__("re").search(r"\bhalf\b", out.read_text())  # HLSL 5: no 16-bit types
    image = infer(device, rtxns_small)
    np.testing.assert_allclose(run_hlsl(device, out), image, atol=1e-3, rtol=0)
    # weights in a buffer: bound by name (the file fixes no register, so it cannot collide on Vulkan)
    out, weights_bin = export_weights(rtxns_small, "hlsl", tmp_path / "buf.hlsl", shader_weights="buffer")
    values = np.frombuffer(weights_bin.read_bytes(), "<f4").copy()
    buf = device.create_buffer(element_count=values.size, struct_size=4, usage=spy.BufferUsage.shader_resource,
                               data=values)
    np.testing.assert_allclose(run_hlsl(device, out, {"nts_weights": buf}), image, atol=1e-3, rtol=0)


def test_full_rtxns_network_shaders_with_constant_weights(device, rtxns_exact, tmp_path):
    """The full 12 -> 4 x 64 -> 3 network of the rtxns-simple-training preset as a Slang module with its
    13,507 weights in the code (the default): it compiles in seconds (before: 11+ minutes on lavapipe)
    and computes what infer and the buffer-mode shader compute."""
    import slangpy as spy
    out = tmp_path / "full_constants.slang"
    assert export_weights(rtxns_exact, "slang", out) == [out]
    uv = pixel_uv()
    got = spy.Module.load_from_file(device, str(out)).evaluate(uv.astype(np.float32), _result="numpy")
    np.testing.assert_allclose(got, infer(device, rtxns_exact).reshape(-1, 3), atol=1e-3, rtol=0)
    layers = rtxns_exact.layout.layers_of(half(rtxns_exact.parameters))
    same_float16_network(got, forward(layers, encode_frequency_rtxns(uv), "leaky_relu", "sigmoid", storage=half))


def test_full_rtxns_network_shaders_with_buffer_weights(device, rtxns_exact, tmp_path):
    """The same network as a Slang module reading its weights from a buffer."""
    import slangpy as spy
    paths = export_weights(rtxns_exact, "slang", tmp_path / "full.slang", shader_weights="buffer")
    assert paths == [tmp_path / "full.slang", tmp_path / "full.slang.weights.bin"]
    values = np.frombuffer(paths[1].read_bytes(), "<f4")
    np.testing.assert_array_equal(values, half(rtxns_exact.parameters))
    buf = device.create_buffer(element_count=values.size, struct_size=4, usage=spy.BufferUsage.shader_resource,
                               data=values.copy())
    uv = pixel_uv()
    module = spy.Module.load_from_file(device, str(paths[0]))
    got = module.evaluate.set(nts_weights=buf)(uv.astype(np.float32), _result="numpy")
    image = infer(device, rtxns_exact)
    np.testing.assert_allclose(got, image.reshape(-1, 3), atol=1e-3, rtol=0)
    layers = rtxns_exact.layout.layers_of(half(rtxns_exact.parameters))
    mine = forward(layers, encode_frequency_rtxns(uv), "leaky_relu", "sigmoid", storage=half)
    same_float16_network(got, mine)


def test_float16_rounding_in_shaders_is_nearest_even(device, tmp_path):
    """Both roundings the exports paste: nts_round_half (buffer mode) and the branch-free
    nts_round_half4_flat (constants mode)."""
    from app.export.shader_source import ROUND_HALF, ROUND_HALF4
    path = tmp_path / "round.slang"
    # the flat one gets x in every lane (sign flipped in two): a NaN result if the lanes disagree
    flat = ("float nts_round_half_flat(float x)\n{\n    float4 r = nts_round_half4_flat(float4(x, -x, x, -x));\n"
            "    return all(asuint(r) == asuint(float4(r.x, -r.x, r.x, -r.x))) ? r.x : asfloat(0x7fc00001u);\n}\n")
    path.write_text(ROUND_HALF + ROUND_HALF4 + flat)
    import slangpy as spy
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2 ** 32, 50000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x = np.concatenate([x[np.isfinite(x)], rng.normal(0, 1, 20000).astype(np.float32),
                        rng.normal(0, 1e-5, 20000).astype(np.float32),
                        np.array([65504, 65519.996, 65520, 2.0 ** -25, 3 * 2.0 ** -26, 1 + 2.0 ** -11], np.float32)])
    module = spy.Module.load_from_file(device, str(path))
    with np.errstate(over="ignore"):
        expected = x.astype(np.float16).astype(np.float32)
    for function in (module.nts_round_half, module.nts_round_half_flat):
        np.testing.assert_array_equal(function(spy.Tensor.from_numpy(device, x), _result="numpy"), expected)


# ---------- npz and json ----------

def test_npz_and_json_exports_reproduce_infer(device, tmp_path):
    preset = with_network(load_preset("rtxns-simple-training"), n_neurons=24, n_hidden_layers=2,
                          precision="float32", activation="tanh")
    weights = random_weights(device, preset, scale=0.3)
    image = infer(device, weights).reshape(-1, 3)
    export_weights(weights, "npz", tmp_path / "n.npz")
    with np.load(tmp_path / "n.npz") as z:  # no pickles needed
        encoding = json.loads(str(z["encoding"]))
        network = json.loads(str(z["network"]))
        layers = [(z[f"layer_{l}_weights"], z[f"layer_{l}_biases"]) for l in range(network["layers"])]
    assert encoding["otype"] == "frequency" and encoding["outputs"] == 12 and "formula" in encoding
    assert network["activation"] == "tanh" and network["precision"] == "float32"
    assert network["uv_convention"].startswith("uv in [0,1]^2")
    x = encode_frequency_rtxns(pixel_uv())
    np.testing.assert_allclose(forward(layers, x, "tanh", "sigmoid"), image, atol=1e-5)
    for mode in ("plain", "base64"):
        export_weights(weights, "json", tmp_path / f"{mode}.json", arrays=mode)
        doc = json.loads((tmp_path / f"{mode}.json").read_text())
        assert doc["format"] == "neural-texture-studio-network" and doc["version"] == 1 and doc["arrays"] == mode
        decode = (lambda v: np.frombuffer(__import__("base64").b64decode(v), "<f4")) if mode == "base64" else np.array
        got = [(decode(l["weights"]).reshape(l["outputs"], l["inputs"]), decode(l["biases"])) for l in doc["layers"]]
        for (w1, b1), (w2, b2) in zip(got, layers):
            np.testing.assert_array_equal(w1, w2)
            np.testing.assert_array_equal(b1, b2)


def test_float16_npz_holds_the_float16_values(rtxns_trained, tmp_path):
    export_weights(rtxns_trained, "npz", tmp_path / "h.npz")
    with np.load(tmp_path / "h.npz") as z:
        w0 = z["layer_0_weights"]
    np.testing.assert_array_equal(w0, half(rtxns_trained.parameters[:768]).reshape(64, 12))


# ---------- matrix layouts ----------

def test_portable_layouts_convert_both_ways(rtxns_exact):
    layers = [(w.astype(np.float16), b.astype(np.float16))
              for w, b in rtxns_exact.layout.layers_of(rtxns_exact.parameters)]
    row = pack(layers, "row_major")
    col = convert(row, "column-major")
    assert col.layout == "column_major" and col.byte_size == row.byte_size
    w0 = np.frombuffer(col.data, "<f2", 12 * 64, col.layers[0].weight_offset).reshape(12, 64)
    np.testing.assert_array_equal(w0.T, layers[0][0])
    back = convert(col, "row_major")
    assert back.data == row.data
    for (w1, b1), (w2, b2) in zip(unpack(back), layers):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(b1, b2)


def test_optimal_layouts_need_cooperative_vectors(device, rtxns_exact):
    import slangpy as spy
    if device.has_feature(spy.Feature.cooperative_vector):
        pytest.skip("this device has cooperative vectors")
    row = rtxns_network(rtxns_exact).packed
    with pytest.raises(StudioError, match=r"the inferencing_optimal layout needs cooperative vectors, which .* lacks"):
        convert(row, "inferencing_optimal", device)
    with pytest.raises(StudioError, match="training_optimal layout needs a device with cooperative vectors"):
        convert(row, "training_optimal")


class FakeCoopVecDevice:
    """Stands in for a GPU with cooperative vectors: its 'optimal' layouts are column-major with rows and
    columns padded to 16, so the placement and conversion bookkeeping can be checked on any machine."""
    info = SimpleNamespace(adapter_name="fake")

    def has_feature(self, feature):
        return True

    @staticmethod
    def _optimal(layout):
        import slangpy as spy
        return layout in (spy.CoopVecMatrixLayout.inferencing_optimal, spy.CoopVecMatrixLayout.training_optimal)

    def get_coop_vec_matrix_size(self, rows, cols, layout, element_type):
        pad = lambda n: (n + 15) // 16 * 16
        return pad(rows) * pad(cols) * 2 if self._optimal(layout) else rows * cols * 2

    def create_coop_vec_matrix_desc(self, rows, cols, layout, element_type, offset=0):
        return SimpleNamespace(rows=rows, cols=cols, layout=layout, offset=offset,
                               size=self.get_coop_vec_matrix_size(rows, cols, layout, element_type))

    def _read(self, data, d):
        import slangpy as spy
        if d.layout == spy.CoopVecMatrixLayout.row_major:
            return np.frombuffer(data, "<f2", d.rows * d.cols, d.offset).reshape(d.rows, d.cols)
        if d.layout == spy.CoopVecMatrixLayout.column_major:
            return np.frombuffer(data, "<f2", d.rows * d.cols, d.offset).reshape(d.cols, d.rows).T
        pr = (d.rows + 15) // 16 * 16
        return np.frombuffer(data, "<f2", d.size // 2, d.offset).reshape(-1, pr).T[:d.rows, :d.cols]

    def _write(self, out, d, m):
        import slangpy as spy
        if d.layout == spy.CoopVecMatrixLayout.row_major:
            raw = np.ascontiguousarray(m)
        elif d.layout == spy.CoopVecMatrixLayout.column_major:
            raw = np.ascontiguousarray(m.T)
        else:
            pr, pc = (d.rows + 15) // 16 * 16, (d.cols + 15) // 16 * 16
            padded = np.zeros((pr, pc), np.float16)
            padded[:d.rows, :d.cols] = m
            raw = np.ascontiguousarray(padded.T)
        out[d.offset:d.offset + raw.nbytes] = raw.astype("<f2").tobytes()

    def convert_coop_vec_matrices(self, dst, dst_descs, src, src_descs):
        for d, s in zip(dst_descs, src_descs):
            self._write(dst, d, self._read(src, s))


def test_optimal_layout_bookkeeping_with_a_stand_in_device(rtxns_exact):
    device = FakeCoopVecDevice()
    row = rtxns_network(rtxns_exact).packed
    opt = convert(row, "inferencing_optimal", device)
    assert opt.layout == "inferencing_optimal"
    assert [p.weight_size for p in opt.layers] == [64 * 16 * 2, 64 * 64 * 2, 64 * 64 * 2, 64 * 64 * 2, 16 * 64 * 2]
    assert all(p.weight_offset % 64 == 0 and p.bias_offset % 64 == 0 for p in opt.layers)
    assert device_placement(device, row, "training_optimal")[1] == opt.byte_size
    with pytest.raises(StudioError, match="can only be read back on the device that made them"):
        unpack(opt)
    assert convert(opt, "row_major", device).data == row.data
    assert convert(convert(opt, "column_major", device), "row_major").data == row.data


# ---------- command line ----------

def test_cli_export_infer_and_train_init(device, rtxns_exact, tmp_path, capsys):
    from app.cli import main
    from app.texture import load_image
    own = tmp_path / "w.ntsw"
    save_weights(own, rtxns_exact)
    assert main(["export", "--weights", str(own), "--format", "rtxns", "--out", str(tmp_path / "w.bin")]) == 0
    assert "wrote" in capsys.readouterr().err
    (tmp_path / "w.bin.encoding.json").unlink()
    assert main(["infer", "--weights", str(tmp_path / "w.bin"), "--out", str(tmp_path / "w.png"),
                 "--size", f"{W}x{H}"]) == 0
    err = capsys.readouterr().err
    assert "note: w.bin records no input encoding; assumed RTXNS EncodeFrequency" in err
    assert main(["infer", "--weights", str(own), "--out", str(tmp_path / "own.png"), "--size", f"{W}x{H}"]) == 0
    np.testing.assert_array_equal(load_image(tmp_path / "w.png"), load_image(tmp_path / "own.png"))
    # a file without a texture size needs --size
    assert main(["infer", "--weights", str(tmp_path / "w.bin"), "--out", str(tmp_path / "x.png")]) == 2
    assert "does not record a texture size; pass --size" in capsys.readouterr().err
    assert main(["infer", "--weights", str(own), "--out", str(tmp_path / "x.png"), "--encoding", "identity"]) == 2
    assert "--encoding only applies to RTXNS files; w.ntsw is not one" in capsys.readouterr().err
    assert main(["export", "--weights", str(own), "--format", "slang", "--out", str(tmp_path / "s.slang"),
                 "--layout", "column-major"]) == 2
    assert "--layout does not apply to --format slang" in capsys.readouterr().err
    texture = tmp_path / "t.png"
    from app.texture import save_image
    save_image(texture, np.random.default_rng(0).random((16, 16, 3)).astype(np.float32))
    assert main(["train", "--texture", str(texture), "--init", str(tmp_path / "w.bin"), "--steps", "2",
                 "--batch", "256", "--preset", "rtxns-simple-training", "--out", str(tmp_path / "t.ntsw")]) == 0
    trained = open_network(tmp_path / "t.ntsw")
    assert trained.preset.network == rtxns_exact.preset.network
    assert np.abs(trained.parameters - rtxns_exact.parameters).max() < 0.05  # started from the file
    assert main(["train", "--texture", str(texture), "--hidden-activation", "relu", "--steps", "1"]) == 2
    assert "describe the network of --init FILE" in capsys.readouterr().err
