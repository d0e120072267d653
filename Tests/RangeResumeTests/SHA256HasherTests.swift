@testable import RangeResume
import ResilienceTesting
import Testing

@Suite("SHA256Hasher")
struct SHA256HasherTests {
    // FIPS 180-4 / NIST CSRC example vectors.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func nistVectors(message: String, digest: String) {
        #expect(SHA256Hasher.hex(of: Array(message.utf8)) == digest)
        var hasher = SHA256Hasher()
        hasher.update(message)
        #expect(hasher.finalizeHex() == digest)
        // The portable Swift rounds, forced even on a CPU with SHA instructions.
        var portable = SHA256Hasher(portable: true)
        #expect(!portable.usesSHAInstructions)
        portable.update(message)
        #expect(portable.finalizeHex() == digest)
    }

    @Test func oneMillionAPortable() {
        var hasher = SHA256Hasher(portable: true)
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        #expect(hasher.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// The default hasher uses the CPU's SHA instructions where present; it must agree with the
    /// portable rounds on random messages of many lengths, fed in uneven pieces.
    @Test func hardwareAgreesWithPortable() async {
        print("SHA256Hasher: hardware SHA instructions \(SHA256Hasher.usesSHAInstructions ? "present, compared with the portable path" : "absent, both paths portable")")
        #expect(SHA256Hasher().usesSHAInstructions == SHA256Hasher.usesSHAInstructions)
        var random = SeededRandomNumberGenerator(seed: 11)
        // 8 rounds under ThreadSanitizer (the portable path is ~10× slower there and held a
        // cooperative thread for tens of seconds); that pass looks for races, not digests.
        let rounds = Sanitizers.isThreadSanitizerActive ? 8 : 40
        for round in 0..<rounds {
            await Task.yield()   // about a second of CPU in all: let the run's other tests in between
            let length = Int.random(in: 0...70_000, using: &random)
            let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            var fast = SHA256Hasher(), portable = SHA256Hasher(portable: true)
            var offset = 0
            while offset < length {
                let piece = Int.random(in: 0...min(9_000, length - offset), using: &random)
                message[offset..<(offset + piece)].withUnsafeBytes { fast.update($0); portable.update($0) }
                offset += piece
            }
            #expect(fast.finalizeHex() == portable.finalizeHex(), "round \(round), length \(length)")
        }
    }

    @Test func oneMillionA() {
        var hasher = SHA256Hasher()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        #expect(hasher.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func digestIs32Bytes() {
        var hasher = SHA256Hasher()
        #expect(hasher.finalize().count == SHA256Hasher.byteCount)
    }

    /// Padding boundaries: 55, 56, 63, 64 and 65 bytes need one or two final blocks.
    @Test func paddingBoundariesMatchIncrementalByteAtATime() {
        for length in [55, 56, 57, 63, 64, 65, 119, 120, 128] {
            let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var bytewise = SHA256Hasher()
            for byte in message { bytewise.update([byte]) }
            #expect(bytewise.finalizeHex() == SHA256Hasher.hex(of: message), "length \(length)")
        }
    }

    @Test func incrementalEqualsOneShotAtRandomSplits() {
        var random = SeededRandomNumberGenerator(seed: 7)
        for round in 0..<50 {
            let length = Int.random(in: 0...3000, using: &random)
            let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            let expected = SHA256Hasher.hex(of: message)
            var hasher = SHA256Hasher()
            var offset = 0
            while offset < length {
                let piece = Int.random(in: 0...min(200, length - offset), using: &random)
                message[offset..<(offset + piece)].withUnsafeBytes { hasher.update($0) }
                offset += piece
            }
            #expect(hasher.finalizeHex() == expected, "round \(round), length \(length)")
        }
    }

    @Test func copyForksTheComputation() {
        var hasher = SHA256Hasher()
        hasher.update("ab")
        var fork = hasher
        hasher.update("c")
        fork.update("d")
        #expect(hasher.finalizeHex() == SHA256Hasher.hex(of: Array("abc".utf8)))
        #expect(fork.finalizeHex() == SHA256Hasher.hex(of: Array("abd".utf8)))
    }
}
