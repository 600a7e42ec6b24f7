// Which BLAS the process runs on, read from the mapped libraries (Debian's libtorch only knows "generic").
#include <unistd.h>

#include <iostream>

#include "testing.h"
#include "xclip/versions.h"

using namespace xclip;

namespace {
std::string maps_of(const std::string& path) {
  return "7f0000000000-7f0000001000 r--p 00000000 08:01 1234   /usr/lib/x86_64-linux-gnu/libc10.so.1.13.0\n"
         "7f0000002000-7f0000003000 r-xp 00001000 08:01 5678   " +
         path + "\n7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0      [stack]\n";
}
}  // namespace

TEST(versions_loaded_blas_from_maps) {
  const std::string openmp = "/usr/lib/x86_64-linux-gnu/openblas-openmp/";
  // The shim libblas.so.3 and OpenBLAS's own library: the latter is named, with its build config when known.
  EXPECT_EQ(describe_loaded_blas(maps_of(openmp + "libblas.so.3") + maps_of(openmp + "libopenblasp-r0.3.21.so"), "OpenBLAS 0.3.21 DYNAMIC_ARCH"),
            "OpenBLAS 0.3.21 DYNAMIC_ARCH, OpenMP (" + openmp + "libopenblasp-r0.3.21.so)");
  EXPECT_EQ(describe_loaded_blas(maps_of("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"), ""),
            "OpenBLAS, pthreads (/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3)");
  EXPECT_EQ(describe_loaded_blas(maps_of("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"), ""),
            "reference BLAS (netlib, unoptimised) (/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0)");
  EXPECT_EQ(describe_loaded_blas(maps_of("/opt/intel/oneapi/mkl/lib/intel64/libmkl_rt.so.2"), ""),
            "MKL (/opt/intel/oneapi/mkl/lib/intel64/libmkl_rt.so.2)");
  EXPECT_EQ(describe_loaded_blas(maps_of("/usr/lib/x86_64-linux-gnu/libc.so.6"), ""), "unknown (no BLAS library mapped)");
}

TEST(versions_loaded_blas_in_this_process) {
  // The test binary links libtorch, so some BLAS is mapped; its path must exist.
  const std::string blas = loaded_blas();
  auto open = blas.rfind('(');
  EXPECT_TRUE(open != std::string::npos && blas.back() == ')');
  const std::string path = blas.substr(open + 1, blas.size() - open - 2);
  std::cout << "    " << blas << "\n";
  EXPECT_TRUE(access(path.c_str(), R_OK) == 0);
}

TEST(versions_cuda_info) {
  // Debian's libtorch has no CUDA part: said so, no devices. A CUDA libtorch (the device check) lists each device.
  const CudaInfo info = cuda_info();
  EXPECT_EQ(static_cast<int>(info.devices.size()), info.device_count);
  std::cout << "    cuda: " << describe_cuda(info) << "\n";
  if (!info.built) {
    EXPECT_EQ(info.device_count, 0);
    EXPECT_EQ(describe_cuda(info), std::string("not available (this libtorch has no CUDA)"));
  }
  CudaInfo two;
  two.built = true;
  two.device_count = 1;
  two.cuda_runtime = 12040;
  two.cudnn = 90100;
  two.devices.push_back(CudaDeviceInfo{0, "NVIDIA H200", 9, 0, int64_t(143771) << 20});
  EXPECT_EQ(describe_cuda(two), std::string("1 device(s), CUDA 12.4, cuDNN 90100\n  cuda:0  NVIDIA H200, compute capability 9.0, 143771 MiB"));
  two.device_count = 0;
  two.devices.clear();
  EXPECT_EQ(describe_cuda(two), std::string("libtorch built with CUDA 12.4, cuDNN 90100, but no CUDA device is visible"));
}
