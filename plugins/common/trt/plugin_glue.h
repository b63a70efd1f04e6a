// One glue body for both TensorRT plugin interfaces. A plugin's glue is a class template over its
// base, written once:
//
//   template <template <class, class> class Base>
//   class FooGlue : public Base<FooGlue<Base>, Attrs> { ... output_dims, run, [workspace, extra_type] ... };
//   PYKIT_DEFINE_CREATORS(foo, pykit::foo::FooGlue)
//
// Base is trt::PluginBase (IPluginV2DynamicExt) or trt::PluginV3Base (IPluginV3: OneCore, OneBuild,
// OneRuntime); both implement the same hooks from the compiled spec. PYKIT_DEFINE_CREATORS defines
// the V2 creator always and, against TensorRT >= 10, the V3 creator too. The library registers the
// V3 creators on TensorRT >= 10 (V2 is deprecated there, and one name/version/namespace key holds
// one creator) and the V2 creators below 10 (library.cpp).
#pragma once

#include "common/trt/plugin_base.h"
#if NV_TENSORRT_MAJOR >= 10
#include "common/trt/plugin_base_v3.h"
#define PYKIT_DEFINE_CREATORS(id, Glue)                                                   \
    PYKIT_DEFINE_CREATOR(id, ::pykit::trt::CreatorBase<Glue<::pykit::trt::PluginBase>>) \
    PYKIT_DEFINE_CREATOR_V3(id, ::pykit::trt::CreatorV3Base<Glue<::pykit::trt::PluginV3Base>>)
#else
#define PYKIT_DEFINE_CREATORS(id, Glue) \
    PYKIT_DEFINE_CREATOR(id, ::pykit::trt::CreatorBase<Glue<::pykit::trt::PluginBase>>)
#endif
