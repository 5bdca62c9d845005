"""Codecs of the formats other software reads, one module per format; app/formats.py registers them
(and this app's own .ntsw) and is where files are opened and written:

    rtxns_bin.py      RTX Neural Shading SDK binary network (+ NAME.encoding.json sidecar, sidecar.py)
    rtxns_json.py     RTXNS SlangPy samples' JSON (+ sidecar)
    shader_source.py  self-contained Slang or HLSL module with float3 evaluate(float2 uv)
    npz_json.py       numpy arrays per layer, or documented JSON
    imports.py        RTXNS files read back into the app's WeightsFile
    layouts.py        float16 networks packed as RTXNS does, converted between matrix layouts
    common.py         descriptions and encodings shared by the exports
"""
