import CSHA256

/// SHA-256 (FIPS 180-4), written in this package so that `RangeResume` has no dependency.
///
/// Incremental: feed the message in pieces of any size with ``update(_:)-([UInt8])``, then call
/// ``finalize()`` once for the 32-byte digest or ``finalizeHex()`` for the usual lowercase hex
/// string. A value type: copying a hasher forks the computation.
///
/// ```swift
/// var hasher = SHA256Hasher()
/// hasher.update(Array("ab".utf8))
/// hasher.update(Array("c".utf8))
/// hasher.finalizeHex()   // "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// SHA256Hasher.hex(of: Array("abc".utf8))   // the same, in one call
/// ```
///
/// The compression function reads whole 64-byte blocks straight from the caller's buffer
/// (no copy unless a block straddles two `update` calls). Two implementations, chosen once per
/// process at run time: the CPU's SHA-256 instructions when present (x86-64 SHA extensions, found
/// by `cpuid`; ARMv8 SHA2 on AArch64), in the package's small C target `CSHA256` — about 6× the
/// portable code here — and otherwise a portable Swift version with 64 unrolled rounds and the
/// round constants inlined. Both give identical digests; both are tested against the FIPS 180-4 /
/// NIST example vectors, and the throughput is measured against `sha256sum` and
/// `openssl dgst -sha256` in `Benchmarks/RangeResumeBenchmarks.swift`.
public struct SHA256Hasher: Sendable {
    private var h0: UInt32 = 0x6a09e667, h1: UInt32 = 0xbb67ae85, h2: UInt32 = 0x3c6ef372
    private var h3: UInt32 = 0xa54ff53a, h4: UInt32 = 0x510e527f, h5: UInt32 = 0x9b05688c
    private var h6: UInt32 = 0x1f83d9ab, h7: UInt32 = 0x5be0cd19
    /// Bytes of an incomplete block carried over between `update` calls (always < 64).
    private var pending: [UInt8] = []
    /// Message length so far, in bytes.
    private var length: UInt64 = 0
    /// Whether this hasher's blocks go to the CPU's SHA instructions (`CSHA256`) rather than the
    /// Swift rounds.
    let usesSHAInstructions: Bool

    /// The digest size in bytes (32).
    public static let byteCount = 32

    /// A hasher for an empty message.
    public init() {
        self.init(portable: false)
    }

    /// A hasher that uses the portable Swift rounds when `portable` is `true`, even on a CPU with
    /// SHA instructions (so tests cover both implementations).
    init(portable: Bool) {
        usesSHAInstructions = !portable && Self.usesSHAInstructions
        pending.reserveCapacity(64)
    }

    /// Whether hashers in this process use the CPU's SHA-256 instructions (x86-64 SHA extensions
    /// or ARMv8 SHA2, detected once at run time by `cpuid` / the hwcaps) instead of the portable
    /// Swift rounds. The digest is the same either way; only the speed differs.
    public static let usesSHAInstructions = csha256_sha_instructions_available() != 0

    /// Appends `bytes` to the message.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress, bytes.count > 0 else { return }
        var count = bytes.count
        length &+= UInt64(count)
        if !pending.isEmpty {
            let take = min(64 - pending.count, count)
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
            base += take
            count -= take
            if pending.count < 64 { return }
            pending.withUnsafeBytes { compress($0.baseAddress!, blocks: 1) }
            pending.removeAll(keepingCapacity: true)
        }
        let blocks = count / 64
        if blocks > 0 {
            compress(base, blocks: blocks)
            base += blocks * 64
            count -= blocks * 64
        }
        if count > 0 {
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base, count: count))
        }
    }

    /// Appends `bytes` to the message.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Appends the UTF-8 bytes of `string` to the message.
    public mutating func update(_ string: String) {
        var copy = string
        copy.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// Pads the message and returns its 32-byte digest. The hasher is spent afterwards: create a
    /// new one (or keep a copy from before) to hash another message.
    public mutating func finalize() -> [UInt8] {
        let bitLength = length &* 8
        var tail: [UInt8] = [0x80]
        let padded = (pending.count + 1 + 8 + 63) / 64 * 64
        tail.append(contentsOf: repeatElement(0, count: padded - pending.count - 1 - 8))
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        let savedLength = length
        update(tail)
        length = savedLength
        var digest: [UInt8] = []
        digest.reserveCapacity(32)
        for word in [h0, h1, h2, h3, h4, h5, h6, h7] {
            digest.append(contentsOf: [UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16),
                                       UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word)])
        }
        return digest
    }

    /// Like ``finalize()``, as 64 lowercase hexadecimal characters.
    public mutating func finalizeHex() -> String {
        Self.hexString(finalize())
    }

    /// The lowercase hex SHA-256 of `bytes`, in one call.
    public static func hex(of bytes: [UInt8]) -> String {
        var hasher = SHA256Hasher()
        hasher.update(bytes)
        return hasher.finalizeHex()
    }

    /// Lowercase hex of `bytes`.
    static func hexString(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    private func round(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: inout UInt32,
                       _ e: UInt32, _ f: UInt32, _ g: UInt32, _ h: inout UInt32,
                       _ k: UInt32, _ w: UInt32) {
        let s1 = e.rotatedRight(6) ^ e.rotatedRight(11) ^ e.rotatedRight(25)
        let ch = g ^ (e & (f ^ g))            // (e & f) ^ (~e & g), one operation fewer
        let t1 = h &+ s1 &+ ch &+ k &+ w
        let s0 = a.rotatedRight(2) ^ a.rotatedRight(13) ^ a.rotatedRight(22)
        let maj = (a & b) ^ (c & (a ^ b))     // (a & b) ^ (a & c) ^ (b & c), one fewer
        d = d &+ t1
        h = t1 &+ s0 &+ maj
    }

    @inline(__always)
    private func schedule(_ w2: UInt32, _ w7: UInt32, _ w15: UInt32, _ w16: UInt32) -> UInt32 {
        let s1 = w2.rotatedRight(17) ^ w2.rotatedRight(19) ^ (w2 >> 10)
        let s0 = w15.rotatedRight(7) ^ w15.rotatedRight(18) ^ (w15 >> 3)
        return s1 &+ w7 &+ s0 &+ w16
    }

    /// Runs the compression function over `blocks` consecutive 64-byte blocks at `pointer`.
    private mutating func compress(_ pointer: UnsafeRawPointer, blocks: Int) {
        if usesSHAInstructions {
            var state = (h0, h1, h2, h3, h4, h5, h6, h7)
            withUnsafeMutableBytes(of: &state) { words in
                csha256_compress(words.baseAddress!.assumingMemoryBound(to: UInt32.self),
                                 pointer.assumingMemoryBound(to: UInt8.self), blocks)
            }
            (h0, h1, h2, h3, h4, h5, h6, h7) = state
            return
        }
        var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7
        var block = pointer
        for _ in 0..<blocks {
            @inline(__always) func load(_ index: Int) -> UInt32 {
                UInt32(bigEndian: block.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
            }
            var w0 = load(0), w1 = load(1), w2 = load(2), w3 = load(3)
            var w4 = load(4), w5 = load(5), w6 = load(6), w7 = load(7)
            var w8 = load(8), w9 = load(9), w10 = load(10), w11 = load(11)
            var w12 = load(12), w13 = load(13), w14 = load(14), w15 = load(15)
            round(a, b, c, &d, e, f, g, &h, 0x428a2f98, w0)
            round(h, a, b, &c, d, e, f, &g, 0x71374491, w1)
            round(g, h, a, &b, c, d, e, &f, 0xb5c0fbcf, w2)
            round(f, g, h, &a, b, c, d, &e, 0xe9b5dba5, w3)
            round(e, f, g, &h, a, b, c, &d, 0x3956c25b, w4)
            round(d, e, f, &g, h, a, b, &c, 0x59f111f1, w5)
            round(c, d, e, &f, g, h, a, &b, 0x923f82a4, w6)
            round(b, c, d, &e, f, g, h, &a, 0xab1c5ed5, w7)
            round(a, b, c, &d, e, f, g, &h, 0xd807aa98, w8)
            round(h, a, b, &c, d, e, f, &g, 0x12835b01, w9)
            round(g, h, a, &b, c, d, e, &f, 0x243185be, w10)
            round(f, g, h, &a, b, c, d, &e, 0x550c7dc3, w11)
            round(e, f, g, &h, a, b, c, &d, 0x72be5d74, w12)
            round(d, e, f, &g, h, a, b, &c, 0x80deb1fe, w13)
            round(c, d, e, &f, g, h, a, &b, 0x9bdc06a7, w14)
            round(b, c, d, &e, f, g, h, &a, 0xc19bf174, w15)
            w0 = schedule(w14, w9, w1, w0)
            round(a, b, c, &d, e, f, g, &h, 0xe49b69c1, w0)
            w1 = schedule(w15, w10, w2, w1)
            round(h, a, b, &c, d, e, f, &g, 0xefbe4786, w1)
            w2 = schedule(w0, w11, w3, w2)
            round(g, h, a, &b, c, d, e, &f, 0x0fc19dc6, w2)
            w3 = schedule(w1, w12, w4, w3)
            round(f, g, h, &a, b, c, d, &e, 0x240ca1cc, w3)
            w4 = schedule(w2, w13, w5, w4)
            round(e, f, g, &h, a, b, c, &d, 0x2de92c6f, w4)
            w5 = schedule(w3, w14, w6, w5)
            round(d, e, f, &g, h, a, b, &c, 0x4a7484aa, w5)
            w6 = schedule(w4, w15, w7, w6)
            round(c, d, e, &f, g, h, a, &b, 0x5cb0a9dc, w6)
            w7 = schedule(w5, w0, w8, w7)
            round(b, c, d, &e, f, g, h, &a, 0x76f988da, w7)
            w8 = schedule(w6, w1, w9, w8)
            round(a, b, c, &d, e, f, g, &h, 0x983e5152, w8)
            w9 = schedule(w7, w2, w10, w9)
            round(h, a, b, &c, d, e, f, &g, 0xa831c66d, w9)
            w10 = schedule(w8, w3, w11, w10)
            round(g, h, a, &b, c, d, e, &f, 0xb00327c8, w10)
            w11 = schedule(w9, w4, w12, w11)
            round(f, g, h, &a, b, c, d, &e, 0xbf597fc7, w11)
            w12 = schedule(w10, w5, w13, w12)
            round(e, f, g, &h, a, b, c, &d, 0xc6e00bf3, w12)
            w13 = schedule(w11, w6, w14, w13)
            round(d, e, f, &g, h, a, b, &c, 0xd5a79147, w13)
            w14 = schedule(w12, w7, w15, w14)
            round(c, d, e, &f, g, h, a, &b, 0x06ca6351, w14)
            w15 = schedule(w13, w8, w0, w15)
            round(b, c, d, &e, f, g, h, &a, 0x14292967, w15)
            w0 = schedule(w14, w9, w1, w0)
            round(a, b, c, &d, e, f, g, &h, 0x27b70a85, w0)
            w1 = schedule(w15, w10, w2, w1)
            round(h, a, b, &c, d, e, f, &g, 0x2e1b2138, w1)
            w2 = schedule(w0, w11, w3, w2)
            round(g, h, a, &b, c, d, e, &f, 0x4d2c6dfc, w2)
            w3 = schedule(w1, w12, w4, w3)
            round(f, g, h, &a, b, c, d, &e, 0x53380d13, w3)
            w4 = schedule(w2, w13, w5, w4)
            round(e, f, g, &h, a, b, c, &d, 0x650a7354, w4)
            w5 = schedule(w3, w14, w6, w5)
            round(d, e, f, &g, h, a, b, &c, 0x766a0abb, w5)
            w6 = schedule(w4, w15, w7, w6)
            round(c, d, e, &f, g, h, a, &b, 0x81c2c92e, w6)
            w7 = schedule(w5, w0, w8, w7)
            round(b, c, d, &e, f, g, h, &a, 0x92722c85, w7)
            w8 = schedule(w6, w1, w9, w8)
            round(a, b, c, &d, e, f, g, &h, 0xa2bfe8a1, w8)
            w9 = schedule(w7, w2, w10, w9)
            round(h, a, b, &c, d, e, f, &g, 0xa81a664b, w9)
            w10 = schedule(w8, w3, w11, w10)
            round(g, h, a, &b, c, d, e, &f, 0xc24b8b70, w10)
            w11 = schedule(w9, w4, w12, w11)
            round(f, g, h, &a, b, c, d, &e, 0xc76c51a3, w11)
            w12 = schedule(w10, w5, w13, w12)
            round(e, f, g, &h, a, b, c, &d, 0xd192e819, w12)
            w13 = schedule(w11, w6, w14, w13)
            round(d, e, f, &g, h, a, b, &c, 0xd6990624, w13)
            w14 = schedule(w12, w7, w15, w14)
            round(c, d, e, &f, g, h, a, &b, 0xf40e3585, w14)
            w15 = schedule(w13, w8, w0, w15)
            round(b, c, d, &e, f, g, h, &a, 0x106aa070, w15)
            w0 = schedule(w14, w9, w1, w0)
            round(a, b, c, &d, e, f, g, &h, 0x19a4c116, w0)
            w1 = schedule(w15, w10, w2, w1)
            round(h, a, b, &c, d, e, f, &g, 0x1e376c08, w1)
            w2 = schedule(w0, w11, w3, w2)
            round(g, h, a, &b, c, d, e, &f, 0x2748774c, w2)
            w3 = schedule(w1, w12, w4, w3)
            round(f, g, h, &a, b, c, d, &e, 0x34b0bcb5, w3)
            w4 = schedule(w2, w13, w5, w4)
            round(e, f, g, &h, a, b, c, &d, 0x391c0cb3, w4)
            w5 = schedule(w3, w14, w6, w5)
            round(d, e, f, &g, h, a, b, &c, 0x4ed8aa4a, w5)
            w6 = schedule(w4, w15, w7, w6)
            round(c, d, e, &f, g, h, a, &b, 0x5b9cca4f, w6)
            w7 = schedule(w5, w0, w8, w7)
            round(b, c, d, &e, f, g, h, &a, 0x682e6ff3, w7)
            w8 = schedule(w6, w1, w9, w8)
            round(a, b, c, &d, e, f, g, &h, 0x748f82ee, w8)
            w9 = schedule(w7, w2, w10, w9)
            round(h, a, b, &c, d, e, f, &g, 0x78a5636f, w9)
            w10 = schedule(w8, w3, w11, w10)
            round(g, h, a, &b, c, d, e, &f, 0x84c87814, w10)
            w11 = schedule(w9, w4, w12, w11)
            round(f, g, h, &a, b, c, d, &e, 0x8cc70208, w11)
            w12 = schedule(w10, w5, w13, w12)
            round(e, f, g, &h, a, b, c, &d, 0x90befffa, w12)
            w13 = schedule(w11, w6, w14, w13)
            round(d, e, f, &g, h, a, b, &c, 0xa4506ceb, w13)
            w14 = schedule(w12, w7, w15, w14)
            round(c, d, e, &f, g, h, a, &b, 0xbef9a3f7, w14)
            w15 = schedule(w13, w8, w0, w15)
            round(b, c, d, &e, f, g, h, &a, 0xc67178f2, w15)
            a = a &+ h0; b = b &+ h1; c = c &+ h2; d = d &+ h3
            e = e &+ h4; f = f &+ h5; g = g &+ h6; h = h &+ h7
            h0 = a; h1 = b; h2 = c; h3 = d; h4 = e; h5 = f; h6 = g; h7 = h
            block += 64
        }
    }
}

extension UInt32 {
    @inline(__always) fileprivate func rotatedRight(_ count: UInt32) -> UInt32 {
        (self >> count) | (self << (32 - count))
    }
}
