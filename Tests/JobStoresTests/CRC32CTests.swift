import JobStores
import ResilienceTesting
import Testing

@Suite("CRC32C")
struct CRC32CTests {
    /// The check values of RFC 3720 (iSCSI), appendix B.4, and the CRC catalogue's "123456789".
    @Test func publishedVectors() {
        #expect(CRC32C.checksum([UInt8](repeating: 0x00, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func incrementalEqualsWholeAtEverySplit() {
        var generator = SeededRandomNumberGenerator(seed: 7)
        let bytes = (0..<101).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let whole = CRC32C.checksum(bytes)
        for split in 0...bytes.count {
            let head = bytes[..<split].withUnsafeBytes { CRC32C.checksum($0) }
            let combined = bytes[split...].withUnsafeBytes { CRC32C.update(head, with: $0) }
            #expect(combined == whole)
        }
    }
}
