"""Export, parity and benchmark options, with the defaults of core.specs and a tooltip each."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.events import BENCHMARK, METADATA, OP_PROFILE, PARITY, PER_NODE, VARIANTS
from heimdall_studio.core.specs import (
    DEFAULT_OPSET,
    EXPORTERS,
    OPENVINO_PRECISIONS,
    BenchmarkOptions,
    ExportOptions,
    OpProfileOptions,
    ParityOptions,
    PerNodeOptions,
    Tolerance,
    parse_int_range,
)
from heimdall_studio.gui.dataclass_form import ScientificSpinBox


def _tip(widget: QWidget, text: str) -> QWidget:
    widget.setToolTip(text)
    return widget


VARIANT_TIPS = {
    "ort-optimized": "ONNX Runtime's offline graph optimisation (extended level: portable across CPUs).",
    "int8-dynamic": "Dynamic INT8 quantisation of MatMul/Gemm weights, per channel.",
    "int8-static": "Static QDQ INT8 quantisation, calibrated on the parity inputs.",
    "fp16": "float16 weights with float32 inputs and outputs, for CUDA (unavailable without a CUDA GPU).",
}


class OptionsForm(QWidget):
    """The run's options; ``export_options()`` etc. return core.specs dataclasses."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        ex, par, bench = ExportOptions(), ParityOptions(), BenchmarkOptions()

        self.exporter = _tip(
            QComboBox(),
            "dynamo: torch.export based exporter (recommended, opset ≥ 18).\n"
            "torchscript: the legacy tracer, for models torch.export cannot capture.",
        )
        self.exporter.addItems(EXPORTERS)
        self.exporter.setCurrentText(ex.exporter)
        self.opset = _tip(
            QSpinBox(minimum=0, maximum=23),
            "ONNX opset to target. 'default' picks the exporter's own (dynamo 18, torchscript 14).",
        )
        self.opset.setSpecialValueText("default")
        self.opset.setValue(ex.opset or 0)
        self.exporter.currentTextChanged.connect(self._update_opset_hint)
        self.dynamic_batch = _tip(
            QCheckBox("Dynamic batch axis"),
            "Export the batch dimension as a symbolic axis so the ONNX model accepts any batch size.",
        )
        self.dynamic_batch.setChecked(ex.dynamic_batch)
        self.constant_folding = _tip(QCheckBox("Fold constants"), "Pre-compute constant sub-graphs at export.")
        self.constant_folding.setChecked(ex.do_constant_folding)
        self.overwrite = _tip(
            QCheckBox("Overwrite existing .onnx"),
            "Replace an existing file of the same name in the output folder instead of failing.",
        )
        self.overwrite.setChecked(True)
        self.out_dir = _tip(
            QLineEdit(),
            "Folder for the .onnx file and the JSON report. Empty: a folder per model under Heimdall's data folder.",
        )
        self.out_dir.setPlaceholderText("default")

        self.parity_batches = _tip(
            QSpinBox(minimum=1, maximum=1000, value=par.batches),
            "How many random batches to compare PyTorch against ONNX Runtime on.",
        )
        self.parity_batch_size = _tip(
            QSpinBox(minimum=1, maximum=4096, value=par.batch_size), "Samples per compared batch."
        )
        self.atol = _tip(
            ScientificSpinBox(par.default.atol),
            "Absolute tolerance: every element must be within atol + rtol·|reference|.",
        )
        self.rtol = _tip(ScientificSpinBox(par.default.rtol), "Relative tolerance (see atol).")
        self.mean_atol = _tip(
            ScientificSpinBox(par.default.mean_atol), "The mean absolute error of each output must not exceed this."
        )

        self.inputs_npz = _tip(
            QLineEdit(),
            "A .npz file with one array per model input (named like the "
            "inputs): parity and the benchmark run on these real inputs instead of random "
            "ones (the benchmark at the file's batch size). Empty: random inputs.",
        )
        self.inputs_npz.setPlaceholderText("random inputs")
        self.int_range = _tip(
            QLineEdit(",".join(str(v) for v in par.int_range)),
            "Random values for integer inputs (e.g. indices): LOW,HIGH, both included.",
        )
        self.iterations = _tip(
            QSpinBox(minimum=1, maximum=100000, value=bench.iterations),
            "Timed inferences per runtime, device and batch size.",
        )
        self.warmup = _tip(
            QSpinBox(minimum=0, maximum=10000, value=bench.warmup),
            "Untimed inferences first (shown faded, not counted in the statistics).",
        )
        self.batch_sizes = _tip(
            QLineEdit(", ".join(str(b) for b in bench.batch_sizes)),
            "Comma-separated batch sizes to measure, e.g. 1, 8, 32.",
        )
        self.on_cpu = _tip(QCheckBox("CPU"), "Measure PyTorch and ONNX Runtime on the CPU.")
        self.on_cuda = _tip(QCheckBox("CUDA GPU"), "Measure on the GPU too; without one the GPU column says why.")
        self.on_cpu.setChecked("cpu" in bench.devices)
        self.on_cuda.setChecked("cuda" in bench.devices)
        self.on_ray_cpu = _tip(
            QCheckBox("Ray CPU"),
            "Measure on a CPU of the Ray cluster set in Settings → profile → Ray address (or RAY_ADDRESS); "
            "needs the ray extra.",
        )
        self.on_ray_cuda = _tip(
            QCheckBox("Ray GPU"),
            "Measure on a GPU node of the Ray cluster (num_gpus=1); without one the column says why.",
        )
        self.on_ray_cpu.setChecked("ray:cpu" in bench.devices)
        self.on_ray_cuda.setChecked("ray:cuda" in bench.devices)
        self.threads = _tip(
            QSpinBox(minimum=0, maximum=256, value=bench.threads),
            "Intra-op threads of each runtime; 'default' lets the runtime choose.",
        )
        self.threads.setSpecialValueText("default")
        self.runtimes = {
            "pytorch": _tip(QCheckBox("PyTorch"), "PyTorch eager: the baseline every speed-up is measured against."),
            "onnxruntime": _tip(QCheckBox("ONNX Runtime"), "ONNX Runtime on the exported file."),
            "openvino": _tip(
                QCheckBox("OpenVINO"),
                "OpenVINO's CPU plugin on the exported file. Its parity against PyTorch is checked too, "
                "in the precision it computes in.",
            ),
            "tensorrt": _tip(
                QCheckBox("TensorRT"),
                "ONNX Runtime's TensorRT provider on the GPU; needs onnxruntime-gpu built with TensorRT "
                "(without it the GPU column says why).",
            ),
        }
        for name, box in self.runtimes.items():
            box.setChecked(name in bench.runtimes)
        self.openvino_precision = _tip(
            QComboBox(),
            "OpenVINO's inference precision. auto: OpenVINO's own choice (bf16 on CPUs with AMX or "
            "AVX512-BF16, else f32); the results say which it used, and parity measures its error.",
        )
        self.openvino_precision.addItems(OPENVINO_PRECISIONS)
        self.openvino_precision.setCurrentText(bench.openvino_precision)

        node, prof = PerNodeOptions(), OpProfileOptions()
        self.per_node = _tip(
            QCheckBox("Per-node parity"),
            "Compare each nn.Module's output with the ONNX value it produced and find the first node "
            "that diverges (needs a PyTorch model: the source, or a Reference model for an .onnx file).",
        )
        self.node_rtol = _tip(ScientificSpinBox(node.rtol), "A node diverges when max|err| / max|ref| exceeds this.")
        self.node_chunk = _tip(
            QSpinBox(minimum=1, maximum=100000, value=node.chunk_size),
            "Most intermediate values one ONNX Runtime session returns; lower it to bound memory.",
        )
        self.op_profile = _tip(
            QCheckBox("Op profile"),
            "Profile ONNX Runtime per node and op type, with the execution provider of each node, "
            "in a pass apart from the timed benchmark.",
        )
        self.op_profile_runs = _tip(
            QSpinBox(minimum=1, maximum=100000, value=prof.runs), "Profiled runs after one warm-up run."
        )

        from heimdall_studio.core.variants import VARIANT_CRITERIA
        from heimdall_studio.core.variants import VARIANTS as VARIANT_NAMES

        self.variants = {}
        for name in VARIANT_NAMES:
            tolerance = VARIANT_CRITERIA.get(name)
            criteria = (
                f"atol {tolerance.atol:g}, rtol {tolerance.rtol:g}, mean {tolerance.mean_atol:g}"
                if tolerance
                else "the fp32 criteria above"
            )
            self.variants[name] = _tip(
                QCheckBox(name),
                f"{VARIANT_TIPS.get(name, name)}\nWritten beside the export, checked for parity against "
                f"PyTorch ({criteria}) and benchmarked like it; see the Variants view.",
            )

        export_box = QGroupBox("Export")
        form = QFormLayout(export_box)
        form.addRow("Exporter", self.exporter)
        form.addRow("Opset", self.opset)
        form.addRow(self.dynamic_batch)
        form.addRow(self.constant_folding)
        form.addRow(self.overwrite)
        form.addRow("Output folder", self.out_dir)

        parity_box = QGroupBox("Parity")
        form = QFormLayout(parity_box)
        form.addRow("Batches", self.parity_batches)
        form.addRow("Batch size", self.parity_batch_size)
        form.addRow("atol", self.atol)
        form.addRow("rtol", self.rtol)
        form.addRow("Mean abs. error ≤", self.mean_atol)
        form.addRow("Inputs (.npz)", self.inputs_npz)
        form.addRow("Integer inputs", self.int_range)

        bench_box = QGroupBox("Benchmark")
        form = QFormLayout(bench_box)
        form.addRow("Iterations", self.iterations)
        form.addRow("Warm-up", self.warmup)
        form.addRow("Batch sizes", self.batch_sizes)
        devices = QHBoxLayout()
        devices.addWidget(self.on_cpu)
        devices.addWidget(self.on_cuda)
        devices.addWidget(self.on_ray_cpu)
        devices.addWidget(self.on_ray_cuda)
        form.addRow("Devices", devices)
        form.addRow("Threads", self.threads)
        runtimes = QHBoxLayout()
        for box in self.runtimes.values():
            runtimes.addWidget(box)
        form.addRow("Runtimes", runtimes)
        form.addRow("OpenVINO precision", self.openvino_precision)

        inspect_box = QGroupBox("Inspection (Explorer view)")
        form = QFormLayout(inspect_box)
        form.addRow(self.per_node)
        form.addRow("Node rtol", self.node_rtol)
        form.addRow("Node chunk", self.node_chunk)
        form.addRow(self.op_profile)
        form.addRow("Profiled runs", self.op_profile_runs)

        variants_box = QGroupBox("Optimised variants (Variants view)")
        grid = QHBoxLayout(variants_box)
        for box in self.variants.values():
            grid.addWidget(box)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for box in (export_box, parity_box, bench_box, inspect_box, variants_box):
            layout.addWidget(box)
        layout.addStretch(1)
        self._update_opset_hint(self.exporter.currentText())

    def apply_defaults(self, defaults) -> None:
        """Pre-fill the form from the user's run defaults (a ``gui.run_defaults.RunDefaults``)."""
        self.exporter.setCurrentText(defaults.exporter)
        self.opset.setValue(defaults.opset)
        self.parity_batches.setValue(defaults.parity_batches)
        self.parity_batch_size.setValue(defaults.parity_batch_size)
        self.atol.setValue(defaults.atol)
        self.rtol.setValue(defaults.rtol)
        self.mean_atol.setValue(defaults.mean_atol)
        self.iterations.setValue(defaults.iterations)
        self.warmup.setValue(defaults.warmup)
        self.batch_sizes.setText(defaults.batch_sizes)

    def _update_opset_hint(self, exporter: str) -> None:
        self.opset.setSpecialValueText(f"default ({DEFAULT_OPSET.get(exporter, '?')})")

    def export_options(self) -> ExportOptions:
        return ExportOptions(
            exporter=self.exporter.currentText(),
            opset=self.opset.value() or None,
            do_constant_folding=self.constant_folding.isChecked(),
            dynamic_batch=self.dynamic_batch.isChecked(),
            overwrite=self.overwrite.isChecked(),
        )

    def input_options(self) -> dict:
        """The inputs parity and the benchmark run on: a user's .npz, and the integer range of random ones."""
        text = self.int_range.text().strip() or "0,9"
        try:
            low_high = parse_int_range(text)
        except BadInputError:
            raise BadInputError(
                f"Integer inputs {text!r} is not LOW,HIGH.",
                "Write two whole numbers in Options → Parity, e.g. 0, 9 (both ends included).",
            ) from None
        return {"inputs_npz": self.inputs_npz.text().strip(), "int_range": low_high}

    def parity_options(self) -> ParityOptions:
        return ParityOptions(
            batches=self.parity_batches.value(),
            batch_size=self.parity_batch_size.value(),
            default=Tolerance(atol=self.atol.value(), rtol=self.rtol.value(), mean_atol=self.mean_atol.value()),
            **self.input_options(),
        )

    def benchmark_options(self) -> BenchmarkOptions:
        try:
            sizes = tuple(int(s) for s in self.batch_sizes.text().replace(" ", "").split(",") if s)
        except ValueError:
            raise BadInputError(
                f"Batch sizes {self.batch_sizes.text()!r} are not whole numbers.",
                "Write them comma-separated, e.g. 1, 8, 32.",
            ) from None
        if not sizes or min(sizes) < 1:
            raise BadInputError(
                "The benchmark needs at least one batch size of 1 or more.",
                "Write them comma-separated in Options → Benchmark, e.g. 1, 8.",
            )
        boxes = (
            ("cpu", self.on_cpu),
            ("cuda", self.on_cuda),
            ("ray:cpu", self.on_ray_cpu),
            ("ray:cuda", self.on_ray_cuda),
        )
        devices = tuple(d for d, box in boxes if box.isChecked())
        if not devices:
            raise BadInputError("No benchmark device is selected.", "Tick CPU, CUDA GPU or both.")
        runtimes = tuple(name for name, box in self.runtimes.items() if box.isChecked())
        if not runtimes:
            raise BadInputError(
                "No benchmark runtime is selected.", "Tick at least one runtime in Options → Benchmark."
            )
        return BenchmarkOptions(
            warmup=self.warmup.value(),
            iterations=self.iterations.value(),
            batch_sizes=sizes,
            devices=devices,
            runtimes=runtimes,
            openvino_precision=self.openvino_precision.currentText(),
            threads=self.threads.value(),
            **self.input_options(),
        )

    def per_node_options(self) -> PerNodeOptions:
        if not self.node_rtol.value() > 0:
            raise BadInputError("Node rtol must be above 0.", "Set Options → Node rtol, e.g. 1e-3.")
        return PerNodeOptions(rtol=self.node_rtol.value(), chunk_size=self.node_chunk.value())

    def op_profile_options(self) -> OpProfileOptions:
        return OpProfileOptions(runs=self.op_profile_runs.value())

    def variant_fields(self) -> dict:
        """The request's ``variants`` and ``variant_options`` for the ticked variants ({} for none)."""
        from heimdall_studio.core.variants import VariantOptions

        names = tuple(name for name, box in self.variants.items() if box.isChecked())
        if not names:
            return {}
        return {"variants": names, "variant_options": VariantOptions(names=names, overwrite=self.overwrite.isChecked())}

    def with_inspection(self, steps: tuple[str, ...]) -> tuple[str, ...]:
        """``steps`` plus per-node parity (after parity), op profiling and the variants (before
        metadata) when ticked."""
        steps = list(steps)
        if any(box.isChecked() for box in self.variants.values()) and VARIANTS not in steps:
            after = steps.index(BENCHMARK) + 1 if BENCHMARK in steps else len(steps)
            steps.insert(steps.index(METADATA) if METADATA in steps else after, VARIANTS)
        if self.per_node.isChecked() and PER_NODE not in steps:
            steps.insert(steps.index(PARITY) + 1 if PARITY in steps else len(steps), PER_NODE)
        if self.op_profile.isChecked() and OP_PROFILE not in steps:
            after = steps.index(BENCHMARK) + 1 if BENCHMARK in steps else len(steps)
            steps.insert(steps.index(METADATA) if METADATA in steps else after, OP_PROFILE)
        return tuple(steps)
