"""recaug.deploy"""
