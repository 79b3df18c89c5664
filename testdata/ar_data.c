/* Pulled only for a data reference. */
int ar_data_value = 7;
