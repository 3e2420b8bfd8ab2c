import Inference
print("sparkchat: under construction")
