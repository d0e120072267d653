// Placeholder; replaced below.
print("child")
