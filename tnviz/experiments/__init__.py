"""The paper's experiments, reproduced on real data: ``lenet5`` runs LeNet-5 on MNIST
(``tnviz reproduce lenet5-mnist``) and writes its results files, ``report`` its pages,
``fig9`` the paper's Fig. 9, ``claims`` the paper's claims stated by code with their
uncertainty."""
