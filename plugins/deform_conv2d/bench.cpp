// DeformConv's CUDA launcher in pykit._kernels.DeformConv, for `pykit bench` (bench.py drives it).
#include <cstdint>
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "bench_api.h"
#include "deform_conv2d_attrs.h"
#include "deform_conv2d_kernel.h"

namespace pykit { namespace deform_conv2d {
namespace {
namespace py = pybind11;

Attrs attrs_of(const std::vector<std::int32_t>& dilations, std::int32_t group, std::int32_t offset_group,
               const std::vector<std::int32_t>& pads, const std::vector<std::int32_t>& strides) {
    Attrs a{};
    a.dilations = dilations;
    a.group = group;
    a.offset_group = offset_group;
    a.pads = pads;
    a.strides = strides;
    return a;
}

void bind(py::module_& m) {
    m.def("workspace_bytes",
          [](const std::vector<std::int64_t>& x, const std::vector<std::int64_t>& w, const std::vector<std::int64_t>& offset,
             const std::vector<std::int64_t>& mask, const std::vector<std::int32_t>& dilations, std::int32_t group,
             std::int32_t offset_group, const std::vector<std::int32_t>& pads, const std::vector<std::int32_t>& strides) {
              require(x.size() == 4 && w.size() == 4 && offset.size() == 4 && mask.size() == 4, Attrs::kPluginName,
                      "x, weight, offset, mask shapes need 4 dims");
              const Attrs a = attrs_of(dilations, group, offset_group, pads, strides);
              return workspace_bytes(make_geometry(x.data(), w.data(), offset.data(), w[0], mask.data(), a));
          },
          py::arg("x_shape"), py::arg("w_shape"), py::arg("offset_shape"), py::arg("mask_shape"), py::arg("dilations"),
          py::arg("group"), py::arg("offset_group"), py::arg("pads"), py::arg("strides"),
          "bytes of workspace the launch needs");
    m.def("launch",
          [](const std::string& precision, std::uintptr_t x, std::uintptr_t weight, std::uintptr_t offset,
             std::uintptr_t bias, std::uintptr_t mask, std::uintptr_t y, std::uintptr_t workspace,
             const std::vector<std::int64_t>& x_shape, const std::vector<std::int64_t>& w_shape,
             const std::vector<std::int64_t>& offset_shape, const std::vector<std::int64_t>& mask_shape,
             const std::vector<std::int32_t>& dilations, std::int32_t group, std::int32_t offset_group,
             const std::vector<std::int32_t>& pads, const std::vector<std::int32_t>& strides, std::uintptr_t stream) {
              require(x_shape.size() == 4 && w_shape.size() == 4 && offset_shape.size() == 4 && mask_shape.size() == 4,
                      Attrs::kPluginName, "x, weight, offset, mask shapes need 4 dims");
              const Attrs a = attrs_of(dilations, group, offset_group, pads, strides);
              const Geometry g = make_geometry(x_shape.data(), w_shape.data(), offset_shape.data(), w_shape[0],
                                               mask_shape.data(), a);
              bench::check(launch(bench::precision<Attrs>(precision), bench::ptr(x), bench::ptr(weight), bench::ptr(offset),
                                  bench::ptr(bias), bench::ptr(mask), bench::ptr(y), bench::ptr(workspace), g,
                                  bench::stream_of(stream)),
                           "DeformConv launch");
          },
          py::arg("precision"), py::arg("x"), py::arg("weight"), py::arg("offset"), py::arg("bias"), py::arg("mask"),
          py::arg("y"), py::arg("workspace"), py::arg("x_shape"), py::arg("w_shape"), py::arg("offset_shape"),
          py::arg("mask_shape"), py::arg("dilations"), py::arg("group"), py::arg("offset_group"), py::arg("pads"),
          py::arg("strides"), py::arg("stream") = 0,
          "y = DeformConv(x, weight, offset, bias, mask) on device pointers; workspace of workspace_bytes(...)");
}
}  // namespace

PYKIT_REGISTER_BENCH_LAUNCHER(Attrs, bind);

} }  // namespace pykit::deform_conv2d
