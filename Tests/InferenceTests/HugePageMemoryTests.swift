import XCTest

@testable import Inference

/// The KV cache's storage: blocks of 2 MB or more start on a huge-page boundary (so the
/// hint can cover them whole), smaller ones are cache-line aligned, and every byte asked
/// for is usable; a cache that grows past 2 MB keeps the rows it had.
final class HugePageMemoryTests: XCTestCase {
    func testLargeBlocksAreHugePageAlignedAndSmallOnesCacheLineAligned() {
        for size in [1, 100, 4096, HugePageMemory.hugePageBytes - 1, HugePageMemory.hugePageBytes, 3 << 20 + 5] {
            let p = HugePageMemory.allocate(byteCount: size)
            defer { HugePageMemory.deallocate(p) }
            let alignment = size >= HugePageMemory.hugePageBytes ? HugePageMemory.hugePageBytes : 64
            XCTAssertEqual(Int(bitPattern: p) % alignment, 0, "\(size) bytes")
            let bytes = p.bindMemory(to: UInt8.self, capacity: size)
            for i in stride(from: 0, to: size, by: 997) { bytes[i] = UInt8(truncatingIfNeeded: i) }
            bytes[size - 1] = 0xA5
            for i in stride(from: 0, to: size - 1, by: 997) { XCTAssertEqual(bytes[i], UInt8(truncatingIfNeeded: i)) }
            XCTAssertEqual(bytes[size - 1], 0xA5)
        }
    }

    func testACacheGrowingPastTwoMegabytesKeepsItsRows() {
        // 1 KB rows: the layer's storage passes 2 MB (onto huge-page blocks) at 2048 positions.
        let cache = KVCache(windows: [nil], width: 256, headDim: 256, capacity: 8192)
        let row = [Float](repeating: 0, count: 256)
        var k = row, v = row
        for p in 0..<5000 {
            cache.reserve(0, upTo: p + 1)
            k[0] = Float(p)
            k[255] = Float(-p)
            v[7] = Float(2 * p)
            cache.store(0, slot: cache.slot(0, p), keys: k, values: v)
        }
        for p in [0, 255, 256, 2047, 2048, 4095, 4999] {
            XCTAssertEqual(cache.keys(0, slot: p)[0], Float(p))
            XCTAssertEqual(cache.keys(0, slot: p)[255], Float(-p))
            XCTAssertEqual(cache.values(0, slot: p)[7], Float(2 * p))
        }
    }
}
