// Forced include for building faiss-node 0.5.1 against Debian's libfaiss 1.7.3.
// faiss-node was written for faiss 1.7.4, which moved `idx_t` from `faiss::Index::idx_t` to
// namespace scope (`faiss::idx_t`); this alias restores the newer name without touching its sources.
#pragma once
#include <faiss/Index.h>

namespace faiss {
using idx_t = Index::idx_t;
}
