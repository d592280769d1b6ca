//===- MarkDeviceIO.cpp - Buffers only CUDA calls touch --------*- C++ -*-===//
//
// moe-mark-device-io: on bufferized code, finds the buffers of the graph
// whose contents nothing on the host reads or writes - only the CUDA
// runtime's entry points get their pointers - so that a device-resident run
// (moe_model_run_device) can keep them in device memory:
//   - every buffer is a root (a graph input or a memref.alloc) with its
//     views (reshape, expand/collapse, cast, subview, reinterpret_cast);
//   - a root is host-touched when any op other than a view, a metadata
//     query (dim, strided metadata), a deallocation or a return uses it or
//     a view, or when its pointer (extract_aligned_pointer_as_index, then
//     casts) reaches anything but a call of a moe_cuda_cc_* entry point or
//     a pointer comparison (the deallocation's);
//   - a graph qualifies when its integer inputs reach no CUDA entry point
//     but the conversion to floats (moe_cuda_cc_cast: HF's position_ids;
//     indices from the caller would reach other kernels unchecked): the
//     module gets `moe.device_io`, the inputs that are host-touched (an
//     attention_mask the graph turns into a float mask on the host) are
//     listed in `moe.device_io_host_inputs` - a device-resident run copies
//     those to the host first, CUDA calls stage them from there - and every
//     allocation that is not host-touched gets `alignment = 256`, the tag
//     the runtime's allocator hook recognizes (runtime/cpu/BufferCache.cpp).
// Ops nobody listed count as touching data: the analysis errs on the side
// of the host.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToRuntime/MoEToRuntime.h"

#include "moe_runtime.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEMARKDEVICEIOPASS
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;

namespace {

/// The alignment that marks an allocation for device memory in a
/// device-resident run (the runtime's allocator hook looks for it).
constexpr int64_t kDeviceAlignment = MOE_DEVICE_BUFFER_ALIGNMENT;

bool isViewOf(Operation *op) {
  return isa<memref::ReshapeOp, memref::ExpandShapeOp, memref::CollapseShapeOp,
             memref::CastOp, memref::SubViewOp, memref::ReinterpretCastOp>(op);
}

/// Whether `op` casts a pointer value (an aligned pointer as index) along.
bool castsPointer(Operation *op) {
  return isa<arith::IndexCastOp, arith::IndexCastUIOp, LLVM::IntToPtrOp>(op);
}

/// Whether a pointer value (an aligned pointer as index, or what casts make
/// of it) only reaches CUDA entry points and pointer comparisons.
bool pointerStaysOnDevice(Value pointer) {
  for (Operation *user : pointer.getUsers()) {
    if (auto call = dyn_cast<LLVM::CallOp>(user)) {
      std::optional<StringRef> callee = call.getCallee();
      if (!callee || !callee->starts_with("moe_cuda_cc_"))
        return false;
      continue;
    }
    if (isa<arith::CmpIOp>(user))
      continue;
    if (castsPointer(user)) {
      if (!pointerStaysOnDevice(user->getResult(0)))
        return false;
      continue;
    }
    return false;
  }
  return true;
}

/// Whether any use of `buffer` or its views reads or writes its data on
/// the host.
bool hostTouches(Value buffer) {
  for (OpOperand &use : buffer.getUses()) {
    Operation *user = use.getOwner();
    if (isViewOf(user) && use.getOperandNumber() == 0) {
      if (hostTouches(user->getResult(0)))
        return true;
      continue;
    }
    if (isa<memref::DimOp, memref::ExtractStridedMetadataOp,
            memref::DeallocOp, func::ReturnOp>(user))
      continue;
    if (auto pointer = dyn_cast<memref::ExtractAlignedPointerAsIndexOp>(user)) {
      if (!pointerStaysOnDevice(pointer.getResult()))
        return true;
      continue;
    }
    return true;
  }
  return false;
}

/// Whether a pointer value reaches a CUDA entry point other than the
/// conversion to floats, which reads its elements as numbers, never as
/// indices.
bool pointerIndexesOnDevice(Value pointer) {
  for (Operation *user : pointer.getUsers()) {
    if (auto call = dyn_cast<LLVM::CallOp>(user)) {
      std::optional<StringRef> callee = call.getCallee();
      if (callee && callee->starts_with("moe_cuda_cc_") &&
          *callee != "moe_cuda_cc_cast")
        return true;
    } else if (castsPointer(user) &&
               pointerIndexesOnDevice(user->getResult(0))) {
      return true;
    }
  }
  return false;
}

/// Whether the pointer of `buffer` or of a view of it reaches a CUDA entry
/// point other than the conversion to floats (whatever else uses it).
bool indexesOnDevice(Value buffer) {
  for (OpOperand &use : buffer.getUses()) {
    Operation *user = use.getOwner();
    if (isViewOf(user) && use.getOperandNumber() == 0 &&
        indexesOnDevice(user->getResult(0)))
      return true;
    if (auto pointer = dyn_cast<memref::ExtractAlignedPointerAsIndexOp>(user);
        pointer && pointerIndexesOnDevice(pointer.getResult()))
      return true;
  }
  return false;
}

struct MoEMarkDeviceIOPass
    : mlir::moe::impl::MoEMarkDeviceIOPassBase<MoEMarkDeviceIOPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    module->removeAttr("moe.device_io");
    module->removeAttr("moe.device_io_host_inputs");
    auto func = module.lookupSymbol<func::FuncOp>(function);
    if (!func || func.isExternal())
      return;
    SmallVector<int32_t> hostInputs;
    for (BlockArgument input : func.getArguments()) {
      auto type = dyn_cast<MemRefType>(input.getType());
      if (!type)
        return;
      // Integer inputs could be indices that reach the kernels unchecked:
      // only their conversions to floats may read them on the device.
      if (isa<IntegerType>(type.getElementType()) && indexesOnDevice(input))
        return;
      if (hostTouches(input))
        hostInputs.push_back(static_cast<int32_t>(input.getArgNumber()));
    }
    Builder b(&getContext());
    func.walk([&](memref::AllocOp alloc) {
      std::optional<uint64_t> alignment = alloc.getAlignment();
      if (!hostTouches(alloc.getResult()))
        alloc.setAlignmentAttr(b.getI64IntegerAttr(kDeviceAlignment));
      else if (alignment && *alignment == kDeviceAlignment)
        // Host buffers must not carry the device tag.
        alloc.setAlignmentAttr(b.getI64IntegerAttr(kDeviceAlignment / 2));
    });
    module->setAttr("moe.device_io", b.getUnitAttr());
    if (!hostInputs.empty())
      module->setAttr("moe.device_io_host_inputs",
                      b.getDenseI32ArrayAttr(hostInputs));
  }
};

} // namespace
