#pragma once
int ck_placeholder(void);
