"""Recording training steps cheaply: every pass of a step is bound once into root shader objects (one per
step parity, see shaders/train_state.slang), then each step is a bind + dispatch per pass, with no
argument marshalling. slangpy's kernel.dispatch marshals its arguments on every call (70+ us of host time
per dispatch measured on a 2-core machine against ~13 us for a bind + dispatch of a prepared object).
A finished command buffer cannot be replayed instead: slang-rhi records with ONE_TIME_SUBMIT and recycles
it once the device is done, so a second submit of it after other work ran nothing (measured).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PassSpec:
    """One compute pass of a training step: its kernel, thread count and arguments (all but ``parity``)."""
    kernel: object
    threads: int
    args: dict
    globals: dict = field(default_factory=dict)  # global shader variables (a trainable encoding's buffers)


class BoundPass:
    def __init__(self, device, spec: PassSpec):
        import slangpy as spy
        self.spec = spec
        self.pipeline = spec.kernel.pipeline
        self.threads = spy.uint3(spec.threads, 1, 1)
        self.objects = tuple(self._bind(device, spy, parity) for parity in (0, 1))

    def _bind(self, device, spy, parity: int):
        root = device.create_root_shader_object(self.spec.kernel.program)
        cursor = spy.ShaderCursor(root)
        for name, value in self.spec.globals.items():
            cursor[name] = value
        entry = cursor.find_entry_point(0)
        for name, value in {**self.spec.args, "parity": parity}.items():
            entry[name] = value
        return root

    def dispatch_marshalled(self, encoder, parity: int) -> None:
        """The same pass through slangpy's per-call marshalling (the reference the bound path must equal)."""
        self.spec.kernel.dispatch(thread_count=[self.spec.threads, 1, 1], command_encoder=encoder,
                                  vars=self.spec.globals, parity=parity, **self.spec.args)


@dataclass
class StepPasses:
    """A step's passes in order: ``gradient`` computes the batch's gradients, ``update`` applies them."""
    gradient: list[BoundPass]
    update: list[BoundPass]

    @classmethod
    def bind(cls, device, gradient: list[PassSpec], update: list[PassSpec]) -> "StepPasses":
        return cls([BoundPass(device, s) for s in gradient], [BoundPass(device, s) for s in update])

    def record(self, encoder, first_step: int, count: int, passes: str = "all", marshalled: bool = False) -> None:
        """Records steps first_step .. first_step + count - 1 (1-based; their parity picks the bound objects)."""
        chosen = self.gradient if passes == "gradient" else self.gradient + self.update
        if marshalled:
            for step in range(first_step, first_step + count):
                for p in chosen:
                    p.dispatch_marshalled(encoder, step & 1)
            return
        # Per parity, the (pipeline, object, threads) of each pass, looked up once: at ~10 us per recorded
        # pass, the Python around the two calls is a measurable share.
        plans = [[(p.pipeline, p.objects[parity], p.threads) for p in chosen] for parity in (0, 1)]
        compute_pass = encoder.begin_compute_pass()
        bind, dispatch = compute_pass.bind_pipeline, compute_pass.dispatch
        for step in range(first_step, first_step + count):
            for pipeline, root, threads in plans[step & 1]:
                bind(pipeline, root)
                dispatch(threads)
        compute_pass.end()
