//===- MarkDeviceIO.cpp - Buffers only CUDA calls touch
//---------------------===//
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
//   - a graph qualifies when no input is host-touched and its integer
//     inputs reach only conversions to floats (moe_cuda_cc_cast: HF's
//     position_ids; indices from the caller would reach other kernels
//     unchecked): the module gets `moe.device_io`, and every allocation
//     that is not host-touched gets `alignment = 256`, the tag the
//     runtime's allocator hook recognizes (runtime/cpu/BufferCache.cpp).
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

/// The CUDA entry points a buffer's pointer may reach: any, or (an integer
/// input's) only the conversion to floats, which reads its values as
/// numbers, never as indices.
enum class Callees { Any, Conversions };

/// Whether a pointer value (an aligned pointer as index, or what casts make
/// of it) only reaches CUDA entry points (`callees`) and pointer
/// comparisons.
bool pointerStaysOnDevice(Value pointer, Callees callees) {
  for (Operation *user : pointer.getUsers()) {
    if (auto call = dyn_cast<LLVM::CallOp>(user)) {
      std::optional<StringRef> callee = call.getCallee();
      if (!callee || !callee->starts_with("moe_cuda_cc_") ||
          (callees == Callees::Conversions && *callee != "moe_cuda_cc_cast"))
        return false;
      continue;
    }
    if (isa<arith::CmpIOp>(user))
      continue;
    if (isa<arith::IndexCastOp, arith::IndexCastUIOp, LLVM::IntToPtrOp>(user)) {
      if (!pointerStaysOnDevice(user->getResult(0), callees))
        return false;
      continue;
    }
    return false;
  }
  return true;
}

/// Whether any use of `buffer` or its views reads or writes its data on
/// the host (or passes it to a CUDA entry point `callees` leaves out).
bool hostTouches(Value buffer, Callees callees = Callees::Any) {
  for (OpOperand &use : buffer.getUses()) {
    Operation *user = use.getOwner();
    if (isViewOf(user) && use.getOperandNumber() == 0) {
      if (hostTouches(user->getResult(0), callees))
        return true;
      continue;
    }
    if (isa<memref::DimOp, memref::ExtractStridedMetadataOp,
            memref::DeallocOp, func::ReturnOp>(user))
      continue;
    if (auto pointer = dyn_cast<memref::ExtractAlignedPointerAsIndexOp>(user)) {
      if (!pointerStaysOnDevice(pointer.getResult(), callees))
        return true;
      continue;
    }
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
    auto func = module.lookupSymbol<func::FuncOp>(function);
    if (!func || func.isExternal())
      return;
    for (BlockArgument input : func.getArguments()) {
      auto type = dyn_cast<MemRefType>(input.getType());
      if (!type)
        return;
      // Integer inputs could be indices that reach the kernels unchecked:
      // only their conversions to floats may read them.
      bool integer = isa<IntegerType>(type.getElementType());
      if ((!integer && !isa<FloatType>(type.getElementType())) ||
          hostTouches(input, integer ? Callees::Conversions : Callees::Any))
        return;
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
  }
};

} // namespace
