import XCTest
final class InferenceTestsPlaceholder: XCTestCase { func testNothing() {} }
